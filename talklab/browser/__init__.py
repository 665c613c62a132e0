"""The browser: what one participant's browser does in the seed's voice room (its ChatRoom.jsx).

* :mod:`.media`: Step 1, ``getUserMedia``: the voices a person can speak with;
* :mod:`.encoding`: each voice encoded once, for every call;
* :mod:`.signaling`: a bare Socket.IO client speaking the seed's events;
* :mod:`.room`: the room as this person sees it, a core with no I/O: an event in, what to do
  out (offer, answer, add a candidate, hang up);
* :mod:`.person`: one participant, carrying out what the room view decides;
* :mod:`.link`: one ``RTCPeerConnection``, to one other person; it reports, never reads its
  person;
* :mod:`.hearing`: what a person hears, and the proof of it (pitch, levels, recordings);
* :mod:`.sdp`: an offer or answer, line by line;
* :mod:`.report`: how each call is, told to a teacher's dashboard.
"""
