"""Every internal of aiortc and aioice that talklab relies on, in one table, checked at start.

aiortc and aioice are pinned (:data:`TESTED`, the pins of ``pyproject.toml``), but a pin can be
overridden: an environment that already has another aiortc, a Binder image built with other
constraints. talklab reaches below their public API in three ways, and each is an entry of
:data:`TABLE`:

* it **replaces** some of their methods and functions while a lab runs (the adjustments of
  :mod:`talklab._aiortc`, each a :class:`~talklab._aiortc.Patch`; :func:`~talklab._aiortc.patch`
  refuses one that is not in the table);
* it **wraps** a method by relying on what that method does inside (which names its code uses:
  ``Connection.check_start`` builds its requests through ``build_request``, for one);
* it **reads** private and name-mangled attributes: the aioice agent under an
  ``RTCPeerConnection``, the check list and the selected pair, packet and byte counters. The
  rest of talklab reads them only through the functions of :mod:`talklab._aiortc.access`
  (``tests/test_aiortc_internals.py`` holds every other module to that, on its syntax tree).

:func:`verify` checks every entry before the first lab starts (:func:`talklab._aiortc.enter`
calls it): each function and method is there, a coroutine function or not as expected, with
the expected parameters; each wrapped method still uses the names the wrapper relies on; each
instance attribute is there, of the expected type, on real instances made once per process
(no socket, no network). On any difference a lab refuses to start with one
:class:`AiortcChanged` sentence naming what changed and the versions installed and tested:
never a silent zero or a wrong drawing. The result is kept: later labs pay nothing.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import importlib
import inspect
import threading
import types
from dataclasses import dataclass
from typing import Any

from talklab.notebook import Sentence

# pyproject.toml's pins: the versions the test suite ran on (tests/test_aiortc_internals.py
# keeps the two equal)
TESTED = {"aiortc": "1.16.0", "aioice": "0.13.0"}

KINDS = ("function", "coroutine function", "method", "coroutine method", "attribute", "global",
         "class")


@dataclass(frozen=True)
class Internal:
    """One thing of aiortc's or aioice's that talklab relies on."""

    owner: str  # where it lives: a class ("aioice.ice.Connection") or a module ("aioice.ice")
    name: str  # as talklab's code spells it ("_RTCRtpSender__stats": mangled names in full)
    kind: str  # one of KINDS ("attribute": of every instance, checked on a fresh one)
    why: str  # what talklab needs it for (the adjustments are numbered as in talklab._aiortc)
    signature: str = ""  # callables: parameters and defaults, without annotations ("": any)
    type: str = ""  # attributes: the type of the value ("int", "aioice.ice.Connection"), globals
    uses: tuple[str, ...] = ()  # names its code must still use, for a wrapper to hold
    patched: bool = False  # replaced while labs run (by a Patch of talklab._aiortc)

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind

    @property
    def where(self) -> str:
        return f"{self.owner}.{self.name}"


_ICE, _CONNECTION = "aioice.ice", "aioice.ice.Connection"
_STUN_PROTOCOL, _PAIR = "aioice.ice.StunProtocol", "aioice.ice.CandidatePair"
_RECEIVER, _SENDER = "aiortc.rtcrtpreceiver.RTCRtpReceiver", "aiortc.rtcrtpsender.RTCRtpSender"
_DTLS = "aiortc.rtcdtlstransport.RTCDtlsTransport"

TABLE: tuple[Internal, ...] = (
    # -- aioice's ICE agent ----------------------------------------------------------------------
    Internal(_ICE, "get_host_addresses", "function", "1. a lab person gathers on their own "
             "loopback address", signature="(use_ipv4, use_ipv6)", patched=True),
    Internal(_CONNECTION, "gather_candidates", "coroutine method", "1. an agent gathers as the "
             "host it was made for, looking get_host_addresses up at each call",
             signature="(self)", uses=("get_host_addresses",), patched=True),
    Internal(_CONNECTION, "__init__", "method", "4. and 5. an agent notes the lab settings and "
             "the host it was made under", patched=True),
    Internal(_CONNECTION, "check_state", "method", "5. the history of every candidate pair",
             signature="(self, pair, state)", patched=True),
    Internal(_CONNECTION, "check_start", "coroutine method", "6. its checks are built by "
             "build_request, and each success marks the pair nominated and goes to "
             "check_complete", signature="(self, pair)",
             uses=("build_request", "check_complete", "nominated")),
    Internal(_CONNECTION, "build_request", "method", "6. a lab's controlling agent checks "
             "without USE-CANDIDATE", signature="(self, pair, nominate)", patched=True),
    Internal(_CONNECTION, "check_complete", "method", "6. a pair is nominated only by talklab's "
             "nomination, which runs when a check completes", signature="(self, pair)",
             patched=True),
    Internal(_CONNECTION, "_end_remote_candidates", "method", "6. end-of-candidates may let "
             "talklab nominate", signature="(self)", patched=True),
    Internal(_CONNECTION, "_check_list_maybe_fail", "method", "6. an agent with a pair that "
             "works is about to nominate, not failed", signature="(self)", patched=True),
    Internal(_CONNECTION, "close", "coroutine method", "6. a closing agent stops talklab's "
             "nomination", signature="(self)", patched=True),
    Internal(_CONNECTION, "_remote_candidates_expected", "method", "6. the nomination rule "
             "waits while candidates may still come", signature="(self)"),
    Internal(_CONNECTION, "_check_list", "attribute", "the candidate pairs (ice.inspect.pairs, "
             "the nomination rule)", type="list"),
    Internal(_CONNECTION, "_check_list_done", "attribute", "6. nothing to nominate once ICE "
             "has completed or failed", type="bool"),
    Internal(_CONNECTION, "_nominated", "attribute", "the selected pair of each component "
             "(the route drawn, netlab's outcome)", type="dict"),
    Internal(_CONNECTION, "_protocols", "attribute", "a trickling person asks the STUN server "
             "from the agent's host sockets", type="list"),
    Internal(_CONNECTION, "_local_candidates", "attribute", "the srflx candidate found after "
             "the description left joins the agent's own", type="list"),
    Internal(_ICE, "candidate_pair_priority", "function", "6. the priority of each pair, for "
             "the nomination rule", signature="(local, remote, ice_controlling)"),
    Internal(_ICE, "server_reflexive_candidate", "coroutine function", "a trickling person's "
             "srflx candidate, asked for after the description left",
             signature="(protocol, stun_server)"),
    Internal(_PAIR, "nominated", "attribute", "6. talklab decides which pair is nominated",
             type="bool"),
    Internal(_PAIR, "remote_nominated", "attribute", "6. a pair the other side nominated "
             "stays nominated", type="bool"),
    Internal(_STUN_PROTOCOL, "connection_made", "method", "3. a socket behind a simulated NAT "
             "sends through it", signature="(self, transport)", patched=True),
    Internal(_STUN_PROTOCOL, "datagram_received", "method", "2. and 3. an agent on loopback "
             "hears only loopback, and only its LAN behind a NAT",
             signature="(self, data, addr)", patched=True),
    Internal(_STUN_PROTOCOL, "receiver", "attribute", "4. a STUN transaction finds its lab's "
             "settings through its socket's agent", type=_CONNECTION),
    # -- aioice's STUN transactions and TURN client -----------------------------------------------
    Internal("aioice.stun.Transaction", "__init__", "method", "4. a lab's transactions "
             "retransmit check_retries times, its consent checks consent_retries times",
             signature="(self, request, addr, protocol, retransmissions=None, "
                       "integrity_key=None, long_term_credential=False)", patched=True),
    Internal("aioice.turn.TurnClientMixin", "delete", "coroutine method", "4. deleting a TURN "
             "allocation waits 2 s at most", signature="(self)", patched=True),
    Internal("aioice.turn.TurnClientUdpProtocol", "connection_made", "method", "3. behind a "
             "UDP-blocking firewall the UDP TURN client is noted", signature="(self, transport)",
             patched=True),
    Internal("aioice.turn.TurnClientUdpProtocol", "_send", "method", "3. behind a "
             "UDP-blocking firewall the UDP TURN client sends nothing",
             signature="(self, data)", patched=True),
    Internal("aioice.turn", "TurnTransport", "class", "3. a TURN relay's transport is not "
             "wrapped by a NAT"),
    # -- aiortc: from a peer connection to its agent, and its counters ----------------------------
    Internal("aiortc.rtcicetransport.RTCIceTransport", "_connection", "attribute", "the aioice "
             "agent behind a peer connection (every ICE view and check)", type=_CONNECTION),
    Internal(_SENDER, "_RTCRtpSender__packet_count", "attribute", "RTP packets sent, read at "
             "once (load.measure, Link.packets, bench/mesh_cpu.py)", type="int"),
    Internal(_RECEIVER, "_RTCRtpReceiver__remote_streams", "attribute", "RTP packets received, "
             "per incoming stream, read at once", type="dict"),
    Internal("aiortc.rtcrtpreceiver.StreamStatistics", "packets_received", "attribute", "RTP "
             "packets received on one stream", type="int"),
    Internal(_DTLS, "_RTCDtlsTransport__tx_bytes", "attribute", "bytes a connection sent, "
             "read at once (load.measure)", type="int"),
    Internal(_DTLS, "_RTCDtlsTransport__rx_bytes", "attribute", "bytes a connection received, "
             "read at once (load.measure)", type="int"),
    Internal(_SENDER, "_RTCRtpSender__stats", "attribute", "Janus's RTCP receiver reports "
             "about our stream (JanusLink.confirmed)", type="dict"),
    Internal(_SENDER, "_handle_rtcp_packet", "coroutine method", "a JanusLink notes Janus's "
             "first receiver report as an event", signature="(self, packet)"),
    Internal(_DTLS, "_handle_rtcp_data", "coroutine method", "hands each RTCP packet to its "
             "recipient's _handle_rtcp_packet, looked up at each call; taps: an RTCP packet "
             "after SRTCP unprotected it", signature="(self, data)",
             uses=("_handle_rtcp_packet",), patched=True),
    Internal(_DTLS, "_set_role", "method", "a JanusLink answers Janus as the DTLS server",
             signature="(self, role)"),
    # -- taps: what a host's sockets and DTLS transports see, for a capture ----------------------
    Internal("aioice.turn.TurnClientUdpProtocol", "datagram_received", "method", "taps: what "
             "the TURN server sends to a host's TURN client socket", signature="(self, data, addr)",
             patched=True),
    Internal(_DTLS, "_send_rtp", "coroutine method", "taps: an RTP or RTCP packet before SRTP "
             "protects it", signature="(self, data)", uses=("protect", "protect_rtcp"),
             patched=True),
    Internal(_DTLS, "_handle_rtp_data", "coroutine method", "taps: an RTP packet after SRTP "
             "unprotected it", signature="(self, data, arrival_time_ms)", patched=True),
    Internal(_DTLS, "start", "coroutine method", "taps: the DTLS handshake begins and ends "
             "inside it; a refused certificate (the peer identity checked after the handshake) "
             "is told to the other end", signature="(self, remoteParameters)",
             uses=("_do_handshake", "_validate_peer_identity"), patched=True),
    Internal(_DTLS, "_write_ssl", "coroutine method", "a transport that refused the other "
             "end's certificate flushes its close_notify alert", signature="(self)"),
    Internal("aiortc.rtcdtlstransport", "X509_DIGEST_ALGORITHMS", "global", "the fingerprint "
             "hashes aiortc checks, to tell a refused certificate from another failure",
             type="dict"),
    Internal("aiortc.rtcdtlstransport", "certificate_digest", "function", "a certificate's "
             "fingerprint, as aiortc computes it", signature="(certificate, algorithm)"),
    Internal(_DTLS, "_ssl", "attribute", "taps: the DTLS connection's client random and master "
             "secret (the key log), its cipher and its SRTP keys (None until the handshake starts)",
             type="object"),
    Internal(_DTLS, "encrypted", "attribute", "taps: whether the DTLS handshake completed",
             type="bool"),
    Internal(_DTLS, "_role", "attribute", "which end of the DTLS handshake a transport is "
             "(client or server)", type="str"),
    # -- aiortc: 7. a lab's audio decoded on the loop ---------------------------------------------
    Internal(_RECEIVER, "receive", "coroutine method", "7. a lab's audio receiver gets a "
             "LoopDecoder where aiortc starts its decoder thread", signature="(self, parameters)",
             uses=("threading", "Thread", "decoder_worker", "_RTCRtpReceiver__decoder_queue"),
             patched=True),
    Internal("aiortc.rtcrtpreceiver", "threading", "global", "7. the decoder thread is made "
             "through this module's threading", type="module:threading", patched=True),
    Internal("aiortc.rtcrtpreceiver", "decoder_worker", "function", "7. what the decoder "
             "thread is given: its input queue, the track's queue, the error flag",
             signature="(loop, input_q, output_q, decode_error)"),
    Internal(_RECEIVER, "_RTCRtpReceiver__started", "attribute", "7. a started receiver keeps "
             "its decoder", type="bool"),
    Internal(_RECEIVER, "_RTCRtpReceiver__decoder_queue", "attribute", "7. the LoopDecoder "
             "stands in for the decoder's input queue", type="queue.Queue"),
    Internal(_RECEIVER, "_handle_rtp_packet", "coroutine method", "7. each reassembled frame is "
             "put on the decoder queue while there is a decoder thread",
             signature="(self, packet, arrival_time_ms)",
             uses=("_RTCRtpReceiver__decoder_queue", "_RTCRtpReceiver__decoder_thread", "put")),
    Internal(_RECEIVER, "_RTCRtpReceiver__stop_decoder", "method", "7. a stopping receiver "
             "puts None and joins its decoder", signature="(self)", uses=("put", "join")),
)


def entry(owner: Any, name: str) -> Internal | None:
    """The table's entry for ``owner.name`` (``owner`` a class or a module), if any."""
    where = owner.__name__ if isinstance(owner, types.ModuleType) else \
        f"{owner.__module__}.{owner.__qualname__}"
    return next((e for e in TABLE if e.owner == where and e.name == name), None)


class AiortcChanged(Sentence, RuntimeError):
    """The aiortc or aioice installed is not one talklab can run on: something it relies on
    (:data:`TABLE`) is missing or has changed."""


# -- the check --------------------------------------------------------------------------------
def _resolve(path: str) -> Any:
    """A module or a class named by its dotted path."""
    try:
        return importlib.import_module(path)
    except ImportError:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)


STOCK = "__talklab_stock__"  # on a replacement: {(id(owner), name): what it replaced}


def _upstream(owner: Any, name: str) -> Any:
    """``owner.name`` as aiortc/aioice define it: while labs run, the stock one talklab put
    aside, which the installed replacement carries (:func:`talklab._aiortc.registry.patch`)."""
    value = getattr(owner, name)
    return getattr(value, STOCK, {}).get((id(owner), name), value)


def shape(function: Any) -> str:
    """A callable's parameters and defaults, without annotations: ``(self, pair, nominate)``."""
    signature = inspect.signature(function)
    return str(signature.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty)
                    for p in signature.parameters.values()],
        return_annotation=inspect.Signature.empty))


def _names(code: types.CodeType) -> set[str]:
    """The names a function's code uses (its own and its comprehensions' and closures')."""
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found


def _type_problem(e: Internal, value: Any, on: str) -> str:
    if not e.type:
        return ""
    if e.type.startswith("module:"):
        expected = e.type.removeprefix("module:")
        if getattr(value, "__name__", None) != expected:
            return f"{on} is no longer the {expected} module"
        return ""
    wanted: type = getattr(builtins, e.type) if "." not in e.type else _resolve(e.type)
    if not isinstance(value, wanted):
        return f"{on} is a {type(value).__name__}, not a {e.type}"
    return ""


def _class_problem(e: Internal) -> str:
    """What is wrong with one class-level entry, or ''."""
    try:
        owner = _resolve(e.owner)
    except (ImportError, AttributeError):
        return f"{e.owner} is missing"
    if not hasattr(owner, e.name):
        return f"{e.where} is missing"
    value = _upstream(owner, e.name)
    if e.kind == "class":
        return "" if isinstance(value, type) else f"{e.where} is no longer a class"
    if e.kind == "global":
        return _type_problem(e, value, e.where)
    if not inspect.isfunction(value):
        return f"{e.where} is no longer a function"
    coroutine = e.kind.startswith("coroutine")
    if inspect.iscoroutinefunction(value) != coroutine:
        return f"{e.where} is {'no longer' if coroutine else 'now'} a coroutine function"
    if e.signature and shape(value) != e.signature:
        return f"{e.where} takes {shape(value)}, not {e.signature}"
    missing = [n for n in e.uses if n not in _names(value.__code__)]
    if missing:
        return f"{e.where} no longer uses {', '.join(missing)}"
    return ""


async def _made() -> dict[str, dict[str, Any]]:
    """The attributes of one fresh instance of each class whose instance attributes the table
    names: an aioice agent, and the transports, sender and receiver of an audio transceiver of
    a peer connection with no ICE servers (closed again: nothing was gathered, no socket was
    opened)."""
    import aioice
    import aioice.ice
    from aiortc import RTCConfiguration, RTCPeerConnection
    from aiortc.rtcrtpreceiver import StreamStatistics

    connection = aioice.ice.Connection(ice_controlling=True)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # (never None: Google's STUN)
    try:
        protocol = aioice.ice.StunProtocol(connection)
        pair = aioice.ice.CandidatePair(protocol, aioice.Candidate(
            foundation="1", component=1, transport="udp", priority=1, host="127.0.0.1",
            port=9, type="host"))
        transceiver = pc.addTransceiver("audio")
        dtls = transceiver.sender.transport
        made = {_CONNECTION: connection, _STUN_PROTOCOL: protocol, _PAIR: pair,
                _SENDER: transceiver.sender, _RECEIVER: transceiver.receiver, _DTLS: dtls,
                "aiortc.rtcicetransport.RTCIceTransport": dtls.transport,
                "aiortc.rtcrtpreceiver.StreamStatistics": StreamStatistics(48000)}
        return {owner: dict(vars(instance)) for owner, instance in made.items()}
    finally:  # (one that lacks what it needs to close says so through its attributes)
        with contextlib.suppress(Exception):
            await pc.close()
        with contextlib.suppress(Exception):
            await connection.close()


def _instances() -> dict[str, dict[str, Any]] | str:
    """:func:`_made` on a thread of its own (a lab may be starting on this thread's running
    loop), or what went wrong."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(asyncio.run(_made()))
        except Exception as exc:  # (reported as one of the differences)
            result.append(f"making an aioice Connection and an aiortc RTCPeerConnection "
                          f"failed: {type(exc).__name__}: {exc}")
    thread = threading.Thread(target=run, name="talklab-aiortc-check")
    thread.start()
    thread.join()
    return result[0]


def _instance_problems() -> list[str]:
    made = _instances()
    if isinstance(made, str):
        return [made]
    out = []
    for e in TABLE:
        if e.kind != "attribute":
            continue
        attributes = made[e.owner]
        if e.name not in attributes:
            out.append(f"a new {e.owner} has no {e.name} ({e.why})")
        elif problem := _type_problem(e, attributes[e.name], f"a new {e.owner}'s {e.name}"):
            out.append(f"{problem} ({e.why})")
    return out


def problems() -> list[str]:
    """Every difference between the table and the aiortc/aioice installed, each with what
    talklab needs it for ([] when there is none). Not kept: :func:`verify` keeps it."""
    out = [f"{problem} ({e.why})" for e in TABLE
           if e.kind != "attribute" and (problem := _class_problem(e))]
    return out or _instance_problems()  # (instances are made only of classes that are right)


def installed_versions() -> dict[str, str]:
    found = {}
    for name in TESTED:
        try:
            found[name] = str(importlib.import_module(name).__version__)
        except (ImportError, AttributeError):
            found[name] = "(none)"
    return found


def message(found: list[str]) -> str:
    """One sentence: what changed, the versions installed and those tested."""
    installed = ", ".join(f"{n} {v}" for n, v in installed_versions().items())
    tested = ", ".join(f"{n} {v}" for n, v in TESTED.items())
    pins = " ".join(f'"{n}=={v}"' for n, v in TESTED.items())
    return (f"talklab cannot run on the aiortc and aioice installed here: {'; '.join(found)}; "
            f"installed: {installed}; talklab is tested with {tested} "
            f"(pip install {pins}).")


_checked: list[str] | None = None  # the differences found, once looked for


def verify() -> None:
    """Raise :class:`AiortcChanged` if anything in :data:`TABLE` is missing or has changed.
    Looked for once per process (a few milliseconds and one throwaway peer connection), then
    remembered."""
    global _checked
    if _checked is None:
        _checked = problems()
    if _checked:
        raise AiortcChanged(message(_checked))


def forget() -> None:
    """Look again at the next :func:`verify` (for tests that change aiortc or aioice)."""
    global _checked
    _checked = None
