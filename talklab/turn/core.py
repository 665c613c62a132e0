"""The relay, without sockets: TURN allocations, permissions and channels (RFC 8656 subset).

When no direct path works, a client asks the TURN server for an *allocation*: a relayed
transport address on the server that stands for the client. Peers send to that address; the
server forwards to the client, and back. Nothing is relayed to or from a peer without a
*permission* for the peer's IP (RFC 8656, 9). Data travels either wrapped in Send/Data
indications (36 bytes of headers per packet) or, after a ChannelBind, as ChannelData with a
4-byte header.

:class:`TurnCore` is the whole protocol as a state machine: it takes bytes and addresses and
returns :class:`Action`\\ s (send this to that client, to that peer); the asyncio adapter in
:mod:`.server` owns the sockets. It can be driven one packet at a time in a notebook.

Authentication is the long-term credential mechanism (RFC 8489, 9.2): a request without
credentials gets 401 with REALM and a NONCE; the client then signs with
MD5(username:realm:password); an expired nonce gets 438. Time-limited credentials from a
shared secret are accepted too (:mod:`.credentials`). Whom the relay may reach is its
:class:`~.policy.PeerPolicy`.

Tested in tests/test_turn.py (the core packet by packet, no sockets: allocations, credentials,
nonces, permissions, channels, quotas, expiry) and tests/test_turn_policy.py (a peer its policy
refuses gets 403, and nothing is relayed).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aioice import stun

from talklab.address import Address
from talklab.stun.dissect import long_term_key
from talklab.turn.credentials import Credentials
from talklab.turn.policy import PeerPolicy

SOFTWARE = "talklab-turn"
UDP = 17
DEFAULT_LIFETIME = 600  # s (RFC 8656, 7.2)
MAX_LIFETIME = 3600
PERMISSION_LIFETIME = 300  # s (RFC 8656, 9)
CHANNEL_LIFETIME = 600  # s (RFC 8656, 12)


@dataclass
class SendToClient:
    data: bytes
    client: Address
    transport: str  # "udp" or "tcp"


@dataclass
class SendToPeer:
    relay: Address
    data: bytes
    peer: Address


@dataclass
class CloseRelay:
    relay: Address


Action = SendToClient | SendToPeer | CloseRelay


@dataclass
class Allocation:
    client: Address
    transport: str
    username: str
    relay: Address
    expires: float
    key: bytes
    permissions: dict[str, float] = field(default_factory=dict)  # peer IP -> expiry
    channels: dict[int, tuple[Address, float]] = field(default_factory=dict)
    channel_of: dict[Address, int] = field(default_factory=dict)
    last_allocate: bytes = b""  # transaction id, to answer a retransmitted Allocate again
    last_response: bytes = b""
    bytes_to_peers: int = 0
    bytes_to_client: int = 0


@dataclass
class TurnCounters:
    allocations: int = 0
    refused: int = 0
    bytes_relayed: int = 0
    packets_relayed: int = 0
    ignored: int = 0


class TurnCore:
    """All allocations of one TURN server, and the rules that create, use and expire them."""

    def __init__(self, *, realm: str = "talklab", users: dict[str, str] | None = None,
                 secret: str | None = None, allow_loopback_peers: bool = False,
                 allow_private_peers: bool = False, policy: PeerPolicy | None = None,
                 quota: int = 10,
                 allocate_relay: Callable[[], Address] | None = None,
                 release_relay: Callable[[Address], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.realm = realm
        self.credentials = Credentials(users, secret, clock)
        # whom the relay may send to (see .policy): coturn's refusals, unless allowed
        self.policy = policy or PeerPolicy(allow_loopback=allow_loopback_peers,
                                           allow_private=allow_private_peers)
        self.quota = quota
        self.allocate_relay = allocate_relay or (lambda: ("127.0.0.1", 0))
        self.release_relay = release_relay or (lambda relay: None)
        self.clock = clock
        self.allocations: dict[tuple[Address, str], Allocation] = {}
        self.by_relay: dict[Address, Allocation] = {}
        self.counters = TurnCounters()

    # -- credentials (see .credentials) -----------------------------------------------------------
    def nonce(self) -> str:
        return self.credentials.nonce()

    def nonce_state(self, nonce: str) -> str:
        return self.credentials.nonce_state(nonce)

    def password(self, username: str) -> str | None:
        return self.credentials.password(username)

    # -- replies ---------------------------------------------------------------------------------
    def _reply(self, request: stun.Message, attributes: dict | None = None,
               key: bytes | None = None, error: tuple[int, str] | None = None) -> bytes:
        cls = stun.Class.ERROR if error else stun.Class.RESPONSE
        response = stun.Message(request.message_method, cls,
                                transaction_id=request.transaction_id)
        if error:
            response.attributes["ERROR-CODE"] = error
        response.attributes.update(attributes or {})
        response.attributes["SOFTWARE"] = SOFTWARE
        if key is not None:
            response.add_message_integrity(key)
        else:
            response.add_fingerprint()
        return bytes(response)

    def _challenge(self, request: stun.Message, code: int = 401,
                   reason: str = "Unauthorized") -> bytes:
        return self._reply(request, {"REALM": self.realm, "NONCE": self.nonce().encode()},
                           error=(code, reason))

    def _authenticate(self, request: stun.Message) -> tuple[str, bytes] | bytes:
        """(username, key) for a properly signed request, else the error reply to send."""
        a = request.attributes
        if "MESSAGE-INTEGRITY" not in a or "USERNAME" not in a or "NONCE" not in a:
            return self._challenge(request)
        username = a["USERNAME"]
        password = self.password(username)
        if password is None or a.get("REALM") != self.realm:
            self.counters.refused += 1
            return self._challenge(request)
        key = long_term_key(username, self.realm, password)
        if not request.check_message_integrity(key):
            self.counters.refused += 1
            return self._challenge(request)
        nonce = a["NONCE"].decode(errors="replace")
        state = self.nonce_state(nonce)
        if state != "ok":
            return self._challenge(request, 438, "Stale Nonce")
        return username, key

    # -- the client side ---------------------------------------------------------------------------
    def handle_client(self, data: bytes, client: Address, transport: str = "udp") -> list[Action]:
        """One message from a client (STUN or ChannelData)."""
        if len(data) >= 4 and 0x40 <= data[0] <= 0x7F:
            return self._channel_data(data, client, transport)
        try:
            message = stun.parse_message(data)
        except Exception:
            self.counters.ignored += 1
            return []
        reply = self._dispatch(message, client, transport)
        if isinstance(reply, bytes):
            return [SendToClient(reply, client, transport)]
        return reply

    def _dispatch(self, m: stun.Message, client: Address, transport: str) -> bytes | list:
        method, cls = m.message_method, m.message_class
        if cls == stun.Class.INDICATION:
            return self._send_indication(m, client, transport) if method == stun.Method.SEND \
                else []
        if cls != stun.Class.REQUEST:
            self.counters.ignored += 1
            return []
        if method == stun.Method.BINDING:  # plain STUN on the TURN port, as coturn does
            return self._reply(m, {"XOR-MAPPED-ADDRESS": client})
        handler = {stun.Method.ALLOCATE: self._allocate, stun.Method.REFRESH: self._refresh,
                   stun.Method.CREATE_PERMISSION: self._create_permission,
                   stun.Method.CHANNEL_BIND: self._channel_bind}.get(method)
        if handler is None:
            return self._reply(m, error=(400, "Bad Request"))
        auth = self._authenticate(m)
        if isinstance(auth, bytes):
            return auth
        username, key = auth
        return handler(m, client, transport, username, key)

    def _allocate(self, m, client, transport, username, key) -> bytes:
        existing = self.allocations.get((client, transport))
        if existing is not None:
            if existing.last_allocate == m.transaction_id:
                return existing.last_response  # a retransmission: same answer
            return self._reply(m, key=key, error=(437, "Allocation Mismatch"))
        if m.attributes.get("REQUESTED-TRANSPORT") != UDP << 24:
            return self._reply(m, key=key, error=(442, "Unsupported Transport Protocol"))
        if sum(a.username == username for a in self.allocations.values()) >= self.quota:
            return self._reply(m, key=key, error=(486, "Allocation Quota Reached"))
        try:
            relay = self.allocate_relay()
        except OSError:
            return self._reply(m, key=key, error=(508, "Insufficient Capacity"))
        lifetime = self._lifetime(m)
        allocation = Allocation(client, transport, username, relay, self.clock() + lifetime, key)
        self.allocations[(client, transport)] = allocation
        self.by_relay[relay] = allocation
        self.counters.allocations += 1
        response = self._reply(m, {"XOR-RELAYED-ADDRESS": relay, "XOR-MAPPED-ADDRESS": client,
                                   "LIFETIME": lifetime}, key=key)
        allocation.last_allocate, allocation.last_response = m.transaction_id, response
        return response

    def _lifetime(self, m) -> int:
        asked = m.attributes.get("LIFETIME", DEFAULT_LIFETIME)
        return max(0, min(int(asked), MAX_LIFETIME))

    def _own(self, m, client, transport, username, key) -> Allocation | bytes:
        allocation = self.allocations.get((client, transport))
        if allocation is None:
            return self._reply(m, key=key, error=(437, "Allocation Mismatch"))
        if allocation.username != username:
            return self._reply(m, key=key, error=(441, "Wrong Credentials"))
        return allocation

    def _refresh(self, m, client, transport, username, key) -> bytes | list:
        allocation = self._own(m, client, transport, username, key)
        if isinstance(allocation, bytes):
            return allocation
        lifetime = self._lifetime(m)
        reply = self._reply(m, {"LIFETIME": lifetime}, key=key)
        if lifetime == 0:
            return [SendToClient(reply, client, transport), *self._free(allocation)]
        allocation.expires = self.clock() + lifetime
        return reply

    def peer_refusal(self, peer: Address) -> str | None:
        """Why the relay refuses ``peer`` (its IP, by the policy; its address, by ``only``)."""
        reason = self.policy.refusal(peer[0])
        if reason is None and self.policy.only is not None and not self.policy.only(peer):
            reason = "not one of this relay's peers"
        return reason

    def _create_permission(self, m, client, transport, username, key) -> bytes:
        allocation = self._own(m, client, transport, username, key)
        if isinstance(allocation, bytes):
            return allocation
        peer = m.attributes.get("XOR-PEER-ADDRESS")
        if peer is None:
            return self._reply(m, key=key, error=(400, "Bad Request: no XOR-PEER-ADDRESS"))
        if self.peer_refusal(peer):
            self.counters.refused += 1
            return self._reply(m, key=key, error=(403, "Forbidden"))
        allocation.permissions[peer[0]] = self.clock() + PERMISSION_LIFETIME
        return self._reply(m, key=key)

    def _channel_bind(self, m, client, transport, username, key) -> bytes:
        allocation = self._own(m, client, transport, username, key)
        if isinstance(allocation, bytes):
            return allocation
        number = m.attributes.get("CHANNEL-NUMBER")
        peer = m.attributes.get("XOR-PEER-ADDRESS")
        if number is None or peer is None or not 0x4000 <= number <= 0x7FFF:
            return self._reply(m, key=key, error=(400, "Bad Request"))
        if self.peer_refusal(peer):
            self.counters.refused += 1
            return self._reply(m, key=key, error=(403, "Forbidden"))
        bound = allocation.channels.get(number)
        if (bound and bound[0] != peer) or allocation.channel_of.get(peer, number) != number:
            return self._reply(m, key=key, error=(400, "Bad Request: channel or peer in use"))
        now = self.clock()
        allocation.channels[number] = (peer, now + CHANNEL_LIFETIME)
        allocation.channel_of[peer] = number
        allocation.permissions[peer[0]] = now + PERMISSION_LIFETIME
        return self._reply(m, key=key)

    def _send_indication(self, m, client, transport) -> list[Action]:
        allocation = self.allocations.get((client, transport))
        peer = m.attributes.get("XOR-PEER-ADDRESS")
        data = m.attributes.get("DATA")
        if allocation is None or peer is None or data is None:
            return []
        return self._to_peer(allocation, data, peer)

    def _channel_data(self, data: bytes, client: Address, transport: str) -> list[Action]:
        allocation = self.allocations.get((client, transport))
        number, length = struct.unpack("!HH", data[:4])
        if allocation is None or len(data) < 4 + length or number not in allocation.channels:
            self.counters.ignored += 1
            return []
        peer, _expires = allocation.channels[number]
        return self._to_peer(allocation, data[4:4 + length], peer)

    def _to_peer(self, allocation: Allocation, data: bytes, peer: Address) -> list[Action]:
        if allocation.permissions.get(peer[0], 0) < self.clock():
            self.counters.ignored += 1
            return []  # no permission: silently dropped (RFC 8656, 11.2)
        if not self.policy.allows(peer):  # a permission is per IP; the policy is per address
            self.counters.refused += 1
            return []
        allocation.bytes_to_peers += len(data)
        self._count(data)
        return [SendToPeer(allocation.relay, data, peer)]

    # -- the peer side -----------------------------------------------------------------------------
    def handle_peer(self, relay: Address, data: bytes, peer: Address) -> list[Action]:
        """A datagram from ``peer`` arriving at the relayed address ``relay``."""
        allocation = self.by_relay.get(relay)
        if allocation is None or allocation.permissions.get(peer[0], 0) < self.clock() \
                or not self.policy.allows(peer):
            self.counters.ignored += 1
            return []
        number = allocation.channel_of.get(peer)
        if number is not None and allocation.channels[number][1] >= self.clock():
            message = struct.pack("!HH", number, len(data)) + data
            if allocation.transport == "tcp":
                message += bytes(-len(message) % 4)
        else:
            indication = stun.Message(stun.Method.DATA, stun.Class.INDICATION)
            indication.attributes["XOR-PEER-ADDRESS"] = peer
            indication.attributes["DATA"] = data
            message = bytes(indication)
        allocation.bytes_to_client += len(data)
        self._count(data)
        return [SendToClient(message, allocation.client, allocation.transport)]

    def _count(self, data: bytes) -> None:
        self.counters.bytes_relayed += len(data)
        self.counters.packets_relayed += 1

    # -- time ------------------------------------------------------------------------------------
    def expire(self) -> list[Action]:
        """Drop what has outlived its lifetime: allocations, permissions, channels."""
        now = self.clock()
        actions: list[Action] = []
        for allocation in list(self.allocations.values()):
            if allocation.expires <= now:
                actions += self._free(allocation)
                continue
            allocation.permissions = {ip: t for ip, t in allocation.permissions.items()
                                      if t > now}
            for number, (peer, t) in list(allocation.channels.items()):
                if t <= now:
                    del allocation.channels[number]
                    allocation.channel_of.pop(peer, None)
        return actions

    def client_gone(self, client: Address, transport: str) -> list[Action]:
        """The client's TCP connection closed: over TCP the connection is the allocation's
        5-tuple, so the allocation goes with it (RFC 6062, 5.1)."""
        allocation = self.allocations.get((client, transport))
        return self._free(allocation) if allocation is not None else []

    def _free(self, allocation: Allocation) -> list[Action]:
        self.allocations.pop((allocation.client, allocation.transport), None)
        self.by_relay.pop(allocation.relay, None)
        self.release_relay(allocation.relay)
        return [CloseRelay(allocation.relay)]

    def rows(self) -> list[dict]:
        """Allocations, for a notebook table."""
        now = self.clock()
        return [{"client": f"{a.client[0]}:{a.client[1]} ({a.transport})", "user": a.username,
                 "relay": f"{a.relay[0]}:{a.relay[1]}", "expires in s": round(a.expires - now),
                 "permissions": sorted(a.permissions), "channels": {
                     hex(n): f"{p[0]}:{p[1]}" for n, (p, _) in a.channels.items()},
                 "bytes to peers": a.bytes_to_peers, "bytes to client": a.bytes_to_client}
                for a in self.allocations.values()]
