"""The room as one person sees it: the seed's browser handlers, as a core with no I/O.

A browser in the seed never asks the server "who is here?": it learns the room from what the
server tells it (``roomJoined`` with the members, then ``userJoinedRoom``/``userLeftRoom``,
``voiceJoined`` with the peers already in voice, ``userJoinedVoice``/``userLeftVoice``), and it
decides what to do from the same events: offer to a newcomer (Step 3), answer an offer (Step 5),
apply an answer (Step 7), add a candidate (Step 8), hang up on someone who left.

:class:`RoomView` is that, in the manner of h11: :meth:`RoomView.receive` takes one event as it
arrived (its name and payload) and returns what to do, as plain values (:class:`Offer`,
:class:`Answer`, :class:`Accept`, :class:`AddCandidate`, :class:`HangUp`, and :class:`Tell`,
:class:`Reply`, :class:`Keep` for what the person says and keeps). It opens no socket, makes no
connection and knows no clock; :class:`talklab.browser.person.Person` carries the actions out. Each
handler below is one of the seed's ``socket.on(...)`` functions, with its step, to read beside
the seed's JavaScript.

A payload that is not what its event should carry changes nothing (a server talklab did not
write may send anything), and a notice about a room the person has left meanwhile is dropped
(:meth:`RoomView.stale`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

NOTICES = ("userJoinedRoom", "userLeftRoom", "userJoinedVoice", "userLeftVoice")
SERVER_EVENTS = ("roomJoined", "userJoinedRoom", "userLeftRoom", "voiceJoined", "voiceLeft",
                 "voiceError", "userJoinedVoice", "userLeftVoice", "webrtc-offer",
                 "webrtc-answer", "webrtc-ice-candidate", "signalingError")


@dataclass
class Seen:
    """One member of the room, as this person last heard of them."""

    sid: str
    username: str
    user_id: str | None = None
    in_voice: bool = False


# -- what to do: the actions a person carries out ---------------------------------------------
@dataclass(frozen=True)
class Offer:
    """Step 3: make a connection for ``sid`` (a newcomer in voice) and send it an offer."""

    sid: str
    name: str


@dataclass(frozen=True)
class Answer:
    """Step 5: apply ``offer`` from ``sid`` (on a new connection if there is none) and answer."""

    sid: str
    name: str
    offer: dict


@dataclass(frozen=True)
class Accept:
    """Step 7: apply ``answer`` from ``sid`` to the connection that offered to them."""

    sid: str
    answer: dict


@dataclass(frozen=True)
class AddCandidate:
    """Step 8: add ``candidate`` from ``sid`` to the connection with them."""

    sid: str
    candidate: dict


@dataclass(frozen=True)
class HangUp:
    """``sid`` left voice: close the connection with them (only that one)."""

    sid: str


@dataclass(frozen=True)
class Tell:
    """Something happened that the lab (and its views) may want to know: publish it."""

    kind: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """The answer a request of this person waits for (``voiceJoined``, ...) has arrived."""

    key: str
    data: Any


@dataclass(frozen=True)
class Keep:
    """A refusal from the server (``signalingError``), to keep in the person's errors."""

    error: dict


Action = Offer | Answer | Accept | AddCandidate | HangUp | Tell | Reply | Keep


def _sid(data: Any) -> str | None:
    sid = data.get("socketId") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) else None


def _seen(data: Any) -> Seen | None:
    sid = _sid(data)
    if sid is None:
        return None
    name = data.get("username")
    user_id = data.get("userId")
    return Seen(sid, name if isinstance(name, str) else sid,
                user_id if isinstance(user_id, str) else None, data.get("inVoice") is True)


class RoomView:
    """The room as one person knows it (who is in it, who holds a voice seat), and what that
    person does about each event."""

    def __init__(self) -> None:
        self.room: str | None = None
        self.me: str | None = None  # this person's socket id
        self.members: dict[str, Seen] = {}  # sid -> Seen, everyone in the room, me included
        self.in_voice = False  # this person holds a seat
        self.joining = False  # asked for a seat, no answer yet: ready for offers already
        self.before_me: set[str] = set()  # in voice before we joined: they offer to us

    # -- the one entry point ------------------------------------------------------------------
    def receive(self, event: str, data: Any, calls: Collection[str] = (),
                decide: bool = True) -> list[Action]:
        """One event from the server: update what this person knows, and return what to do.

        ``calls`` are the socket ids this person has a connection with now. With ``decide``
        False (the person runs a handler of its own for this event, a learner's), only what
        the person knows is updated: the handler decides what to do."""
        if self.stale(event, data):
            return [Tell("stale-notice", {"event": event, "room": data["room"]})]
        self.apply(event, data)
        if not decide or not isinstance(data, dict):
            return []
        handler: Callable[[dict, Collection[str]], list[Action]] | None = getattr(
            self, "on_" + event.replace("-", "_"), None)
        return handler(data, calls) if handler is not None else []

    def apply(self, event: str, data: Any) -> None:
        """Update the view with one event from the server (a stale notice changes nothing)."""
        handler = getattr(self, "_" + event, None)
        if handler is not None and isinstance(data, dict) and not self.stale(event, data):
            handler(data)

    def stale(self, event: str, data: Any) -> bool:
        """Is this a notice about a room this person is no longer in? talklab's server names
        the room in every notice (an added field ``room``; the seed's clients ignore it): with
        several servers, a notice from the room someone just left can arrive after their
        ``roomJoined`` for the next one, and applied there it would put a stranger in the room.
        A notice without ``room`` (the seed's server) is never stale."""
        return (event in NOTICES and isinstance(data, dict) and isinstance(data.get("room"), str)
                and data["room"] != self.room)

    # -- the seed's handlers: what to do ---------------------------------------------------------
    def on_roomJoined(self, data: dict, calls: Collection[str]) -> list[Action]:
        return [Tell("room-joined", {"room": self.room}), Reply("roomJoined", data)]

    def on_signalingError(self, data: dict, calls: Collection[str]) -> list[Action]:
        return [Keep(data), Tell("signaling-error", dict(data)),
                Reply(f"signalingError:{data.get('event')}", data)]

    def on_voiceJoined(self, data: dict, calls: Collection[str]) -> list[Action]:
        peers = [p for p in data.get("peers", []) if isinstance(p, dict)]
        self.before_me = {p["socketId"] for p in peers if isinstance(p.get("socketId"), str)}
        return [Tell("voice-joined", {"room": data.get("room"),
                                      "peers": [p.get("username") for p in peers]}),
                Reply("voiceJoined", data)]

    def on_voiceError(self, data: dict, calls: Collection[str]) -> list[Action]:
        return [Tell("voice-error", {"message": data.get("message")}), Reply("voiceError", data)]

    def on_voiceLeft(self, data: dict, calls: Collection[str]) -> list[Action]:
        return [Tell("voice-left", {"room": data.get("room")}), Reply("voiceLeft", data)]

    def on_userJoinedVoice(self, data: dict, calls: Collection[str]) -> list[Action]:
        """Step 3, the seed's ``handleUserJoinedVoice``: someone joined voice; as one already
        in voice, make a connection for them and send them an offer."""
        sid, name = data.get("socketId"), data.get("username")
        if not isinstance(sid, str) or not isinstance(name, str):
            return []
        told = Tell("told-of-voice-join", {"newcomer": name})
        # Only for a newcomer. Someone listed in our own voiceJoined was in voice before us and
        # offers to us; their userJoinedVoice can still arrive after our voiceJoined when two
        # people join at nearly the same moment, and offering back would be glare.
        if not self.in_voice or sid in calls or sid in self.before_me or sid == self.me:
            return [told]
        return [told, Offer(sid, name)]

    def on_userLeftVoice(self, data: dict, calls: Collection[str]) -> list[Action]:
        """Someone left voice: hang up the call with them, and only that one."""
        sid = data.get("socketId")
        if not isinstance(sid, str):
            return []
        self.before_me.discard(sid)  # if they come back, they are a newcomer: we offer
        return [HangUp(sid)] if sid in calls else []

    def on_webrtc_offer(self, data: dict, calls: Collection[str]) -> list[Action]:
        """Step 5, the seed's ``handleWebRTCOffer``: an offer arrived; answer it, on a new
        connection for whoever sent it (or the one already made for them)."""
        sid, offer = data.get("from"), data.get("offer")
        if not (self.in_voice or self.joining) or not isinstance(sid, str) \
                or not isinstance(offer, dict):
            return []
        return [Answer(sid, self.names().get(sid, sid), offer)]

    def on_webrtc_answer(self, data: dict, calls: Collection[str]) -> list[Action]:
        """Step 7, the seed's ``handleWebRTCAnswer``: apply the answer to the connection made
        for whoever answered."""
        sid, answer = str(data.get("from")), data.get("answer")
        return [Accept(sid, answer)] if sid in calls and isinstance(answer, dict) else []

    def on_webrtc_ice_candidate(self, data: dict, calls: Collection[str]) -> list[Action]:
        """Step 8, the seed's ``handleWebRTCICECandidate``: add the candidate to the connection
        with whoever sent it."""
        sid, candidate = str(data.get("from")), data.get("candidate")
        return [AddCandidate(sid, candidate)] if sid in calls and isinstance(candidate, dict) \
            else []

    # -- what the person knows: the events, applied --------------------------------------------
    def _roomJoined(self, data: dict) -> None:
        room, members = data.get("room"), data.get("members")
        if not isinstance(room, str) or not isinstance(members, list):
            return
        self.room, self.in_voice = room, False
        self.me = _sid(data) or self.me
        self.members = {m.sid: m for m in map(_seen, members) if m is not None}

    def _userJoinedRoom(self, data: dict) -> None:
        seen = _seen(data)
        if seen is not None:
            self.members[seen.sid] = seen

    def _userLeftRoom(self, data: dict) -> None:
        sid = _sid(data)
        if sid is not None:
            self.members.pop(sid, None)

    def _voiceJoined(self, data: dict) -> None:
        peers = data.get("peers")
        if not isinstance(peers, list):
            return
        self.in_voice = True
        if self.me in self.members:
            self.members[self.me].in_voice = True
        for peer in map(_seen, peers):
            if peer is not None:
                self.members.setdefault(peer.sid, peer).in_voice = True

    def _voiceLeft(self, data: dict) -> None:
        self.in_voice = False
        if self.me in self.members:
            self.members[self.me].in_voice = False

    def _userJoinedVoice(self, data: dict) -> None:
        seen = _seen(data)
        if seen is not None:
            self.members.setdefault(seen.sid, seen).in_voice = True

    def _userLeftVoice(self, data: dict) -> None:
        sid = _sid(data)
        if sid in self.members:
            self.members[sid].in_voice = False

    # -- questions -------------------------------------------------------------------------------
    def voice(self) -> dict[str, str]:
        """``{sid: username}`` of the others holding a voice seat."""
        return {sid: m.username for sid, m in self.members.items()
                if m.in_voice and sid != self.me}

    def names(self) -> dict[str, str]:
        """``{sid: username}`` of everyone in the room, this person included."""
        return {sid: m.username for sid, m in self.members.items()}
