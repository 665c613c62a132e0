"""NAT behaviour tables (no sockets), and RFC 5780 discovery through real simulated NATs."""

from __future__ import annotations

import itertools

import pytest

from talklab.nat import NAT_TYPES, NatTable, detect_nat
from talklab.stun import StunServer

S1, S1b, S2 = ("127.0.0.1", 3478), ("127.0.0.1", 3479), ("127.0.0.2", 3478)
ME = ("127.10.0.5", 5000)


def table(kind):
    ports = itertools.count(40000)
    t = NatTable("127.20.0.1", *NAT_TYPES[kind])
    return t, lambda private, remote: t.outbound(private, remote, lambda: next(ports))


def test_full_cone_one_mapping_anyone_may_answer():
    t, out = table("full-cone")
    public = out(ME, S1)
    assert out(ME, S2) == public == ("127.20.0.1", 40000)
    assert t.inbound(public, ("127.99.0.1", 1)) == ME


def test_restricted_filters_by_address_only():
    t, out = table("restricted")
    public = out(ME, S1)
    assert t.inbound(public, S1b) == ME  # same IP, other port: allowed
    assert t.inbound(public, S2) is None
    assert t.counters.dropped_by_filter == 1


def test_port_restricted_filters_by_address_and_port():
    t, out = table("port-restricted")
    public = out(ME, S1)
    assert t.inbound(public, S1) == ME
    assert t.inbound(public, S1b) is None


def test_symmetric_maps_each_destination_apart():
    t, out = table("symmetric")
    a, b, c = out(ME, S1), out(ME, S1b), out(ME, S2)
    assert len({a, b, c}) == 3 and t.counters.mappings == 3
    assert out(ME, S1) == a
    assert t.inbound(a, S1b) is None and t.inbound(b, S1b) == ME


@pytest.mark.parametrize("kind", [None, "full-cone", "restricted", "port-restricted",
                                  "symmetric"])
async def test_detect_nat_reports_what_was_configured(kind):
    async with StunServer() as server:
        report = await detect_nat(server.address, kind)
    assert report.type == (kind or "none"), report.steps
    if kind:
        assert (report.mapping, report.filtering) == NAT_TYPES[kind]
        assert report.mapped[0].startswith("127.20.") and report.local[0].startswith("127.10.")
