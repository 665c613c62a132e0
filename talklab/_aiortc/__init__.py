"""The few, documented adjustments talklab makes to aiortc and aioice. Each has a test
(``tests/test_aiortc_adjustments.py``).

They are **applied only while a lab runs**: :func:`enter` (called by ``Lab.start``) installs
them when the first lab starts, :func:`leave` (``Lab.close``) puts aioice back exactly as it was
when the last lab closes, in whatever order labs close. Importing talklab changes nothing.

Each lab has its own :class:`Settings`. They travel with the lab's people in a context
variable (:data:`SETTINGS`) that every task of a person inherits, and each aioice
``Connection`` remembers the settings it was made under, so two labs running at once (a
notebook's lab and a :func:`talklab.nat_matrix` inside it) each run with their own, and code
outside any lab gets aioice's stock behaviour even while a lab runs.

The adjustments (aioice 0.13.0, aiortc 1.16.0, pinned in pyproject.toml):

1. **Host candidates on loopback** (:mod:`.gathering`). ``aioice.ice.get_host_addresses`` skips
   127.0.0.1 and ::1, so on a machine with only ``lo`` (Binder, CI) nothing is gathered and a
   connection waits in ``new`` forever. Each person gathers on their own loopback address
   (127.10.x.y) instead, given through :func:`gathering_on` around ``setLocalDescription``.
2. **Loopback only, inbound too** (:mod:`.gathering`). A browser on the same machine sends
   checks from its other interfaces as well; aioice would learn such a source as a
   peer-reflexive candidate (RFC 8445, 7.3.1.3) and answer it, beyond loopback. An agent that
   gathers on loopback drops datagrams from outside 127.0.0.0/8 and ::1.
3. **Simulated NATs** (:mod:`.gathering`). A host behind a :class:`talklab.nat.Nat` sends through
   a :class:`~talklab.nat.network.NatTransport`; packets reaching its private socket from
   outside its LAN are dropped. Behind a UDP-blocking firewall aioice's UDP TURN client sends
   nothing, so only TURN over TCP gets out.
4. **Failing fast, and not too fast** (:mod:`.checks`). aioice retransmits a STUN request 6
   times with a doubling RTO (63.5 s before a pair fails); a lab's transactions use
   ``Settings.check_retries`` (3: 7.5 s). ``aioice.stun.RETRY_MAX`` itself is never changed.
   Consent checks (RFC 7675), which aioice sends without retransmission, get
   ``Settings.consent_retries`` (2), so a busy process does not end its own calls.
   A TURN allocation's deletion when a call closes (a Refresh with LIFETIME 0, RFC 8656,
   section 7) waits at most :data:`~.checks.DELETE_TIMEOUT` (2 s): a student whose teacher's
   TURN server has gone waited 63.5 s to hang up (the server frees an allocation nobody
   refreshes once its lifetime ends anyway).
5. **Check history** (:mod:`.checks`). Each candidate pair's state changes are kept with their
   times, for :func:`talklab.ice.inspect.pairs`.
6. **The best pair, not the first** (:mod:`.nomination`). aioice nominates the first pair that
   succeeds; a lab's controlling agents nominate by :func:`talklab.ice.nomination.choose`
   (RFC 8445, 8.1.1, regular nomination): host > srflx > relay, as browsers behave.
7. **Audio decoded on the loop** (:mod:`.decoding`). aiortc decodes each receiver's frames on a
   thread of its own (30 threads in a room of six, in one process), and the hand-over to and
   from them costs more than the decoding; a lab's audio receivers decode where the frame was
   reassembled (``Settings.decoding``, "loop"; "thread" is aiortc's own, for ``bench/mesh_cpu.py``).

8. **A refused certificate ends the call for both** (:mod:`.dtls`). aiortc checks the
   certificate received in the DTLS handshake against the SDP's ``a=fingerprint`` only after
   its handshake completed, and on a mismatch marks its own side failed (logged at debug
   level): the other end, whose handshake completed too, waited for audio that never came. A
   lab's refusing end closes the DTLS connection (``close_notify``), so both ends fail, and
   the link says the fingerprints did not match.

And the **taps** (:mod:`.taps`) observe without changing anything: every datagram of a host's
sockets, every RTP and RTCP packet in the clear, and each DTLS handshake's start, end and key
log, told to a capture listening on that host (``lab.capture``); with none listening, an
attribute lookup per packet.

One more reaches into aioice without replacing anything, per call rather than while labs run:
a trickling person's link holds its agent's STUN server back during ``setLocalDescription`` and
gathers the server-reflexive candidate afterwards (:class:`talklab.ice.trickle.LaterReflexive`),
so that the description leaves before STUN has answered, as a browser's does.

Every internal of aiortc and aioice these adjustments replace or rely on, and every private
attribute the rest of talklab reads, is an entry of one table (:mod:`.internals`), checked by
:func:`enter` before the first lab starts (:func:`verify`): a lab refuses to start, in one
sentence, on an aiortc or aioice that lacks one. Outside this package talklab reads them only
through :mod:`.access`.

Tested in tests/test_aiortc_adjustments.py (each adjustment on its own; labs closed in either
order put aioice back; two labs at once, each with its own settings) and
tests/test_aiortc_internals.py (the table checked before the first lab starts, once).
"""


from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from talklab._aiortc.internals import AiortcChanged, verify  # noqa: F401  (enter raises it)
from talklab._aiortc.registry import (  # noqa: F401  (the package's API: a lab's settings, and their use)
    DEFAULT_CHECK_RETRIES,
    HOST,
    SETTINGS,
    Settings,
    bind,
    install,
    installed,
    settings_of,
    uninstall,
)


def _load() -> None:
    from talklab._aiortc import (  # noqa: F401  (they register their patches)
        checks,
        decoding,
        dtls,
        gathering,
        nomination,
        taps,
    )


def enter() -> None:
    """A lab starts: check that aiortc and aioice have everything talklab relies on (once per
    process: :func:`verify` raises :class:`AiortcChanged`, and nothing is installed), then
    install the adjustments if it is the first."""
    verify()
    _load()
    install()


def leave() -> None:
    """A lab closes: when it was the last, put every stock attribute back."""
    uninstall()


@contextmanager
def running(settings: Settings | None = None) -> Iterator[Settings]:
    """``with running(settings):`` the adjustments are installed and code in the block (and the
    tasks it starts) runs with ``settings``. For tests and scripts; a lab does the same."""
    settings = settings or Settings()
    enter()
    token = SETTINGS.set(settings)
    try:
        yield settings
    finally:
        SETTINGS.reset(token)
        leave()


@contextmanager
def gathering_on(host: Any) -> Iterator[None]:
    """Within this block (and the tasks it starts), ICE gathers as ``host``: a loopback address,
    or a :class:`talklab.nat.Host` (its address, and its NAT if it has one)."""
    token = HOST.set(host)
    try:
        yield
    finally:
        HOST.reset(token)
