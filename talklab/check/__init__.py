"""Self-checks and code exercises for the course: you answer, talklab checks and explains.

* questions: ``check.mesh_links(n=5, answer=...)``; ``check.reveal(check.mesh_links, n=5)``
  shows the answer, only when asked;
* predictions: ``check.compare(prediction, measured, about=...)`` sets your guess beside what
  the live cell measured;
* a cell that reports on a room starts with ``check.ready(lab, *people)``: a lab closed,
  replaced or empty, or a person gone, stops it with a sentence naming the cell to run
  (:mod:`talklab.check.stale`);
* code exercises: you write a piece of the real system, talklab runs it live and judges what
  happened (each notebook's exercises, below).

See :mod:`talklab.check.feedback` for how feedback is given, and why.
"""

from talklab.check import (
    capstone,
    classroom,
    full_mesh,
    ice,
    media,
    nat,
    offer,
    packets,
    scaleout,
    sfu_mcu,
    signaling,
    stun,
)
from talklab.check.feedback import (
    Feedback,
    Number,
    OneOf,
    Question,
    Spec,
    Whole,
    YesNo,
    compare,
    question,
    reveal,
)
from talklab.check.questions import (
    candidate_priority,
    connects,
    error_for,
    mesh_links,
    offers_to_newcomer,
    relay_allowed,
    relayed_messages,
    samples_per_frame,
    sdp_codec,
    upload_streams,
    xor_port,
)
from talklab.check.stale import NotReady, measured, ready

# Each notebook's questions and exercises live in a module of their own (media: 01,
# signaling: 02, offer: 03, stun: 04, ice: 05, nat: 06, packets: 07, full_mesh: 08,
# capstone: 09, scaleout: 10, sfu_mcu: 11, classroom: 12)
# and are
# re-exported here,
# so a notebook writes check.<name>.
_TOPICS = (media, signaling, offer, stun, ice, nat, packets, full_mesh, capstone, scaleout,
           sfu_mcu, classroom)
for _topic in _TOPICS:
    globals().update({name: getattr(_topic, name) for name in _topic.__all__})

__all__ = [*(name for topic in _TOPICS for name in topic.__all__),
    "Feedback", "NotReady", "Number", "OneOf", "Question", "Spec", "Whole", "YesNo",
    "candidate_priority", "measured", "ready",
    "compare", "connects", "error_for", "mesh_links", "offers_to_newcomer",
    "question", "relay_allowed", "relayed_messages", "reveal", "samples_per_frame", "sdp_codec",
    "upload_streams", "xor_port",
]
