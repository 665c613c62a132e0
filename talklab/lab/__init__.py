"""The lab: what composes the seed's systems into a room that runs in one kernel.

* :mod:`.lab`: :class:`~talklab.lab.lab.Lab`, one kind of servers and one kind of rooms;
* :mod:`.kinds`: the two interfaces a lab holds (:class:`~talklab.lab.kinds.Servers`,
  :class:`~talklab.lab.kinds.Rooms`);
* servers: :mod:`.servers` (the lab's own: signaling, STUN, TURN, Redis) or :mod:`.student`
  (a teacher's, for a student's lab in a class); :mod:`.redis_server` starts a Redis;
* rooms: :mod:`.mesh` (the seed's full mesh of calls) or :mod:`.janus_rooms` (an SFU or MCU
  room on Janus);
* :mod:`.diagnose`: why a call did not connect, in a sentence; :mod:`.load`: how hard the
  room works (packets, bytes, CPU);
* experiments built on labs: :mod:`.matrix` (every pair of NATs) and :mod:`.sidebyside` (mesh,
  SFU and MCU rooms measured).
"""
