"""The seed's browser handlers (ChatRoom.jsx), in Python: what a person does with each event
the signaling server sends.

Each handler below is one of the seed's ``socket.on(...)`` functions, with its step:

* ``userJoinedVoice`` → :meth:`BrowserHandlers._on_userJoinedVoice`, the seed's
  ``handleUserJoinedVoice`` (Step 3): one already in voice makes a connection for the newcomer
  and sends an offer;
* ``webrtc-offer`` → :meth:`BrowserHandlers._on_webrtc_offer`, ``handleWebRTCOffer`` (Step 5):
  the newcomer answers;
* ``webrtc-answer`` → :meth:`BrowserHandlers._on_webrtc_answer`, ``handleWebRTCAnswer``
  (Step 7);
* ``webrtc-ice-candidate`` → :meth:`BrowserHandlers._on_webrtc_ice_candidate`,
  ``handleWebRTCICECandidate`` (Step 8);
* ``userLeftVoice``: that call is closed and forgotten.

A notice about a room the person has left meanwhile (its ``room`` is not theirs:
:meth:`~talklab.roomview.RoomView.stale`) is dropped before any handler sees it.

Any of them can be replaced by a function of your own (:meth:`BrowserHandlers.on`): that is
how a notebook runs the handler *you* wrote in a live room.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .link import Link
from .notebook import Sentence

if TYPE_CHECKING:
    from .events import EventBus
    from .person import Person
    from .roomview import RoomView

class ConnectionExists(Sentence, RuntimeError):
    """``create_peer_connection`` for someone this person already has a call with."""


SERVER_EVENTS = ("roomJoined", "userJoinedRoom", "userLeftRoom", "voiceJoined", "voiceLeft",
                 "voiceError", "userJoinedVoice", "userLeftVoice", "webrtc-offer",
                 "webrtc-answer", "webrtc-ice-candidate", "signalingError")


class BrowserHandlers:
    """The part of a :class:`~talklab.person.Person` that reacts to the server."""

    # (set by Person.__init__)
    name: str
    sid: str | None
    closed: bool
    signaling: bool
    view: RoomView
    links: dict[str, Link]
    made_links: list[Link]
    errors: list[dict]
    events: EventBus
    overrides: dict[str, Callable[..., Any]]
    _before_me: set[str]
    _joining: bool

    def changed(self) -> None: ...
    def _publish(self, kind: str, **data: Any) -> None: ...
    def _reply(self, event: str, data: Any) -> None: ...

    @property
    def room(self) -> str | None:
        return self.view.room

    @property
    def in_voice(self) -> bool:
        return self.view.in_voice

    @property
    def members(self) -> dict[str, str]:
        return self.view.names()

    # -- the seed's handlers, replaceable --------------------------------------------------------
    def on(self, event: str, handler: Callable[[Person, dict], Any] | None) -> None:
        """Handle a server event with your own function ``handler(person, data)`` (plain or
        ``async``) instead of talklab's: how a notebook runs *your* ``handleUserJoinedVoice``
        in a live room. ``None`` puts talklab's back. What the person knows of the room is
        updated either way."""
        if event not in SERVER_EVENTS:
            raise ValueError(f"{event!r} is not an event the server sends; one of "
                             f"{', '.join(SERVER_EVENTS)}")
        if handler is None:
            self.overrides.pop(event, None)
        else:
            self.overrides[event] = handler

    def create_peer_connection(self, sid: str, name: str | None = None,
                               role: str = "offerer") -> Link:
        """The seed's ``createPeerConnection(socketId)``: a new RTCPeerConnection (a
        :class:`Link`) for ``sid``, with this person's voice already added to it.

        The seed's would also make a new one when this person already has a connection with
        ``sid``, and forget the old one, in the middle of its call: the new one has made no
        offer and applied none, so an answer or a candidate meant for the old one fails on it.
        talklab refuses instead (:class:`ConnectionExists`) and leaves the call as it is."""
        if not isinstance(sid, str) or not sid:
            raise TypeError(f"create_peer_connection takes the other person's socket id (a "
                            f"string, as the server sent it), got {sid!r}")
        existing = self.links.get(sid)
        if existing is not None and not existing.closed:
            who = existing.remote_name
            raise ConnectionExists(
                f"{self.name} already has a connection with {who} (made when {self.name} "
                f"{'offered to' if existing.role == 'offerer' else 'answered'} {who}): "
                "createPeerConnection makes a new, empty one, which knows nothing of that "
                f"exchange. Is this a new call with {who}, or the one already under way?")
        link = self._new_link(sid, name or self.members.get(sid, sid), role)
        link.attach_voice()
        return link

    # -- the server's events -------------------------------------------------------------------
    def _handler(self, event: str) -> Callable[[Any], Any]:
        specific = getattr(self, "_on_" + event.replace("-", "_"), None)

        async def handle(data: Any = None, *_: Any) -> None:
            if self.closed:
                return
            if self.view.stale(event, data):  # about a room we have left: dropped, unhandled
                self._publish("stale-notice", event=event, room=data["room"])
                return
            self.view.apply(event, data)
            own = self.overrides.get(event)
            if own is not None:
                await self._run_override(event, own, data)
            elif specific is not None and isinstance(data, dict):
                await specific(data)
            self.changed()
        return handle

    async def _run_override(self, event: str, handler: Callable[..., Any], data: Any) -> None:
        try:
            result = handler(self, data)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
        except Exception as exc:  # the learner's code: note it, keep the person alive
            self.errors.append({"event": event, "message": f"{type(exc).__name__}: {exc}",
                                "handler": getattr(handler, "__name__", "handler")})
            self._publish("handler-error", event=event, error=f"{type(exc).__name__}: {exc}",
                          exception=exc)

    async def _on_roomJoined(self, data: dict) -> None:
        self._publish("room-joined", room=self.room)
        self._reply("roomJoined", data)

    async def _on_signalingError(self, data: dict) -> None:
        self.errors.append(data)
        self._publish("signaling-error", **data)
        self._reply(f"signalingError:{data.get('event')}", data)

    async def _on_disconnect(self, *args: Any) -> None:
        """The signaling connection is gone. Calls already up carry on (the seed's Step 9):
        only the server's ``userLeftVoice`` ends a call."""
        if self.closed:
            return
        self.signaling = False
        self._publish("signaling-lost")

    async def _on_voiceJoined(self, data: dict) -> None:
        self._before_me = {p["socketId"] for p in data.get("peers", [])
                           if isinstance(p, dict) and isinstance(p.get("socketId"), str)}
        self._publish("voice-joined", room=data.get("room"),
                      peers=[p.get("username") for p in data.get("peers", [])])
        self._reply("voiceJoined", data)

    async def _on_voiceError(self, data: dict) -> None:
        self._publish("voice-error", message=data.get("message"))
        self._reply("voiceError", data)

    async def _on_voiceLeft(self, data: dict) -> None:
        self._publish("voice-left", room=data.get("room"))
        self._reply("voiceLeft", data)

    async def _on_userJoinedVoice(self, data: dict) -> None:
        """Step 3 (the seed's ``handleUserJoinedVoice``): someone joined voice; as one already
        in voice, make a connection for them and send them an offer."""
        sid, name = data.get("socketId"), data.get("username")
        if not isinstance(sid, str) or not isinstance(name, str):
            return
        self._publish("told-of-voice-join", newcomer=name)
        # Only for a newcomer. Someone listed in our own voiceJoined was in voice before us and
        # offers to us; their userJoinedVoice can still arrive after our voiceJoined when two
        # people join at nearly the same moment, and offering back would be glare.
        if not self.in_voice or sid in self.links or sid in self._before_me or sid == self.sid:
            return
        link = self._new_link(sid, name, "offerer")
        link.do(link.offer)

    async def _on_userLeftVoice(self, data: dict) -> None:
        sid = data.get("socketId")
        if not isinstance(sid, str):
            return
        self._before_me.discard(sid)  # if they come back, they are a newcomer: we offer
        link = self.links.pop(sid, None)
        if link is not None:
            await link.close()
            self._publish("link-closed", remote=link.remote_name)

    # -- the relays: Steps 5, 7 and 8 -----------------------------------------------------------
    async def _on_webrtc_offer(self, data: dict) -> None:
        """Step 5 (the seed's ``handleWebRTCOffer``): a connection for whoever offered."""
        sid, offer = data.get("from"), data.get("offer")
        if not (self.in_voice or self._joining) or not isinstance(sid, str) \
                or not isinstance(offer, dict):
            return
        link = self.links.get(sid)
        if link is None:
            link = self._new_link(sid, self.members.get(sid, sid), "answerer")
        link.do(lambda: link.on_offer(offer))

    async def _on_webrtc_answer(self, data: dict) -> None:
        """Step 7 (the seed's ``handleWebRTCAnswer``)."""
        link, answer = self.links.get(str(data.get("from"))), data.get("answer")
        if link is not None and isinstance(answer, dict):
            link.do(lambda: link.on_answer(answer))

    async def _on_webrtc_ice_candidate(self, data: dict) -> None:
        """Step 8 (the seed's ``handleWebRTCICECandidate``)."""
        link = self.links.get(str(data.get("from")))
        candidate = data.get("candidate")
        if link is not None and isinstance(candidate, dict):
            link.do(lambda: link.on_candidate(candidate))

    def _new_link(self, sid: str, name: str, role: str) -> Link:
        link = Link(cast("Person", self), sid, name, role)
        self.links[sid] = link
        self.made_links.append(link)  # (closed with the person, even if dropped from links)
        self._publish("link-created", remote=name, role=role)
        return link

    async def _close_links(self) -> None:
        links, self.links = list(self.links.values()), {}
        links += [link for link in self.made_links if link not in links and not link.closed]
        self.made_links = []
        # shielded: an interrupt (Interrupt Kernel) while they close must not leave calls that
        # are no longer this person's, half closed
        await asyncio.shield(asyncio.gather(*(link.close() for link in links)))
        self.changed()

