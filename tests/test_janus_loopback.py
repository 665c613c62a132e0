"""The loopback guard (talklab/janus/native/loopback_ifaddrs.c) and the checks that prove Janus
stays on 127.0.0.0/8, tested on their own (tests/test_janus_room.py checks a live Janus)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys

import pytest

from talklab.janus import loopback
from talklab.janus.loopback import Socket, non_loopback_candidates, outside_loopback

# Lists the interfaces getifaddrs(3) returns, through ctypes, as JSON.
LIST_INTERFACES = r"""
import ctypes, json, socket
class sockaddr(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("data", ctypes.c_ubyte * 14)]
class ifaddrs(ctypes.Structure):
    pass
ifaddrs._fields_ = [("next", ctypes.POINTER(ifaddrs)), ("name", ctypes.c_char_p),
                    ("flags", ctypes.c_uint), ("addr", ctypes.POINTER(sockaddr)),
                    ("netmask", ctypes.POINTER(sockaddr)), ("ifu", ctypes.c_void_p),
                    ("data", ctypes.c_void_p)]
libc = ctypes.CDLL(None)
head = ctypes.POINTER(ifaddrs)()
assert libc.getifaddrs(ctypes.byref(head)) == 0
out, entry = [], head
while entry:
    e = entry.contents
    family = e.addr.contents.family if e.addr else None
    ip = socket.inet_ntoa(bytes(e.addr.contents.data[2:6])) if family == socket.AF_INET else None
    out.append({"name": e.name.decode(), "family": family, "ip": ip, "flags": e.flags})
    entry = e.next
libc.freeifaddrs(head)
print(json.dumps(out))
"""

IFF_LOOPBACK = 0x8


def interfaces(preload: bool) -> list[dict]:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = str(loopback.library_path())
    run = subprocess.run([sys.executable, "-c", LIST_INTERFACES], env=env, capture_output=True,
                         text=True, timeout=30, check=True)
    return json.loads(run.stdout)


def test_the_guard_shows_only_loopback_ipv4_without_the_loopback_flag():
    seen = interfaces(preload=True)
    assert seen, "the guard must keep 127.0.0.1"
    assert all(e["family"] == socket.AF_INET and e["ip"].startswith("127.") for e in seen)
    assert all(not e["flags"] & IFF_LOOPBACK for e in seen)  # else Janus skips them
    assert "127.0.0.1" in {e["ip"] for e in seen}
    stock = interfaces(preload=False)  # the machine's own list, unfiltered
    assert any(e["flags"] & IFF_LOOPBACK for e in stock)
    assert len(stock) >= len(seen)


def test_the_guard_ends_its_process_with_the_parent():
    """TALKLAB_JANUS_PARENT: a Janus whose parent dies gets SIGTERM (PR_SET_PDEATHSIG)."""
    starter = ("import os, subprocess, sys\n"
               "env = dict(os.environ, LD_PRELOAD=sys.argv[1],"
               " TALKLAB_JANUS_PARENT=str(os.getpid()))\n"
               "child = subprocess.Popen(['sleep', '60'], env=env)\n"
               "print(child.pid, flush=True)\n")  # and exit at once, leaving sleep behind
    run = subprocess.run([sys.executable, "-c", starter, str(loopback.library_path())],
                         capture_output=True, text=True, timeout=30, check=True)
    orphan = int(run.stdout)
    try:
        handle = os.pidfd_open(orphan)
    except ProcessLookupError:
        return  # already gone
    try:
        readable, _, _ = select.select([handle], [], [], 10)  # readable once it has exited
        assert readable, f"sleep (pid {orphan}) outlived its parent"
    finally:
        os.close(handle)


def test_the_kernel_socket_tables_are_read_right():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        udp.bind(("127.0.0.9", 0))
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        found = {(s.protocol, s.local) for s in loopback.process_sockets(os.getpid())}
        assert ("udp", udp.getsockname()) in found
        assert ("tcp", tcp.getsockname()) in found


def test_what_counts_as_outside_loopback():
    def sock(local: str, remote: str = "0.0.0.0") -> Socket:
        return Socket("udp", (local, 5000), (remote, 0), "07", 1)

    inside = [sock("127.0.0.1"), sock("127.3.4.5", "127.0.0.1"), sock("::ffff:127.0.0.1", "::")]
    outside = [sock("0.0.0.0"), sock("192.0.2.2"), sock("::"), sock("::1"),
               sock("127.0.0.1", "192.0.2.7")]
    assert outside_loopback(inside) == []
    assert outside_loopback(outside) == outside


def test_candidates_outside_loopback_are_found_in_sdp():
    sdp = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
           "a=candidate:1 1 udp 2015363327 127.0.0.1 40000 typ host\r\n"
           "a=candidate:2 1 udp 2015363327 192.0.2.2 40001 typ host\r\n"
           "a=candidate:3 1 udp 2015363327 abc.local 40002 typ host\r\n")
    assert loopback.sdp_candidate_addresses(sdp) == ["127.0.0.1", "192.0.2.2", "abc.local"]
    assert [line.split()[4] for line in non_loopback_candidates(sdp)] == ["192.0.2.2",
                                                                          "abc.local"]


@pytest.mark.parametrize("text, expected", [("0100007F:1F90", ("127.0.0.1", 8080)),
                                            ("00000000:0000", ("0.0.0.0", 0))])
def test_kernel_addresses(text, expected):
    if sys.byteorder != "little":
        pytest.skip("the examples are written for a little-endian machine")
    assert loopback._address(text) == expected
