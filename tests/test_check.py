"""Every self-check accepts the right answer, hints at a wrong one without giving the answer
away, explains a wrong-typed one, waits for None, and shows the answer only when asked."""

from __future__ import annotations

import pytest

from talklab import check
from talklab.browser.media import NotAllowedError

SDP = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\na=rtpmap:96 opus/48000/2\r\n"
       "a=rtpmap:0 PCMU/8000\r\n")
# (check, parameters, right answer, wrong answer, wrong-typed answer)
CASES = [
    (check.mesh_links, dict(n=6), 15, 30, "15"),
    (check.mesh_links, dict(n=4), 6, 3, 6.0),
    (check.offers_to_newcomer, dict(in_voice=3), 3, 1, "3"),
    (check.samples_per_frame, {}, 960, 480, "960"),
    (check.xor_port, dict(xored=0xA147), 32853, 0xA147, "32853"),
    (check.candidate_priority, dict(type="relay"), 16777215, 0, True),
    (check.upload_streams, dict(n=6), 5, 1, "five"),
    (check.error_for, dict(situation="permission denied"), NotAllowedError, "NotFoundError", 3),
    (check.error_for, dict(situation="no microphone"), "notfounderror", "NotAllowedError", None),
    (check.relay_allowed, dict(same_room=True, sender_in_voice=True, target_in_voice=False),
     False, True, "False"),
    (check.connects, dict(a="port-restricted", b="symmetric"), False, True, "no"),
    (check.connects, dict(a="symmetric", b="symmetric", turn=True), True, False, 1),
    (check.connects, dict(a="full-cone", b="symmetric"), True, False, "True"),
    (check.sdp_codec, dict(sdp=SDP), "opus", "pcmu", 96),
]
IDS = [f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]


def shown(value) -> str:
    return value.__name__ if isinstance(value, type) else str(value)


@pytest.mark.parametrize("question,params,right,wrong,badly_typed", CASES, ids=IDS)
def test_each_check_judges_hints_and_reveals(question, params, right, wrong, badly_typed):
    assert question(**params, answer=right)
    feedback = question(**params, answer=wrong)
    assert not feedback and feedback.verdict == "not yet" and len(feedback.message) > 20
    assert shown(right).lower() not in feedback.message.lower(), feedback.message  # no spoiler
    assert "not yet" in feedback._repr_html_()
    if badly_typed is not None:
        typed = question(**params, answer=badly_typed)
        assert not typed and typed.verdict == "wrong type" and "takes" in typed.message
    pending = question(**params, answer=None)
    assert not pending and pending.verdict == "pending" and "replace None" in pending.message
    answer = check.reveal(question, **params)
    assert answer.verdict == "answer" and shown(right).lower() in answer.message.lower()


def test_the_old_type_traps_are_closed():
    assert check.mesh_links(4, answer="6").verdict == "wrong type"  # not "= 6, not 6"
    assert check.relay_allowed(True, True, False, answer="False").verdict == "wrong type"
    assert check.mesh_links(4, answer=True).verdict == "wrong type"  # bool is not a number


def test_a_prediction_is_set_beside_what_happened():
    assert check.compare(None, 3, about="offers Dave receives").verdict == "pending"
    said = check.compare(1, 3, about="offers Dave receives", why="each one already in voice offers")
    assert "you predicted 1" in said.message and "not what you predicted" in said.message
    assert "as you predicted" in check.compare(3, 3, about="offers").message
    assert "not what you predicted. Each one already in voice offers" in said.message  # a sentence
    assert check.compare("3", 3, about="offers", kind=check.Whole()).verdict == "wrong type"


def test_reveal_of_something_else_says_what_it_takes():
    assert "not a self-check" in check.reveal(42).message


def test_the_errors_a_learner_meets_are_explained_toward_the_reasoning():
    from talklab.check.exercise import explain

    said = explain("AttributeError: 'dict' object has no attribute 'offer'")
    assert 'data["offer"]' in said and "dicts" in said
    assert "print(data)" in explain("KeyError: 'answer'")
    said = explain('InvalidStateError: Cannot handle answer in signaling state "stable"')
    assert "the connection your handler meant" in said and "setRemoteDescription" not in said
    assert explain("ZeroDivisionError: division by zero") == ""


def test_a_hint_about_reading_a_payload_is_for_the_learners_own_line_only():
    """09 answered `link.set_local(answer)` with "read the payload with data[...]": the
    AttributeError was raised inside aiortc, on the dict the learner passed in."""
    from talklab.check.exercise import explain

    def learners_line(data):
        return data.offer

    try:
        learners_line({"offer": 1})
    except AttributeError as exc:
        assert 'data["offer"]' in explain(exc)
    import textwrap
    try:  # an error raised inside a library, on what the learner handed it: its message says
        textwrap.indent({"type": "answer"}, "  ")  # type: ignore[arg-type]
    except AttributeError as exc:
        assert "'dict' object has no attribute" in str(exc) and explain(exc) == ""
    from aiortc.sdp import SessionDescription
    try:  # aiortc's own, on a dict a browser would take: which of talklab's takes the dict
        SessionDescription.parse({"type": "answer"})
    except AttributeError as exc:
        assert "aiortc's own take its objects" in explain(exc)


def test_a_prediction_compared_within_its_tolerance():
    said = check.compare(240, 250, about="packets", kind=check.Number(tolerance=25))
    assert "as you predicted" in said.message
    said = check.compare(200, 250, about="packets", kind=check.Number(tolerance=25))
    assert "not what you predicted" in said.message


def test_names_a_browser_compares_exactly_are_judged_letter_for_letter():
    """01 accepted "OverConstrainedError" and "notallowederror", and showed a class as its raw
    repr; a browser's `error.name === ...` is exact."""
    said = check.which_error("the user clicked Block last week, and the browser remembered",
                             answer="notallowederror")
    assert said.verdict == "not yet" and "letter for letter" in said.message
    assert "NotAllowedError" not in said.message
    kind = check.OneOf(["NotFoundError", "OverconstrainedError"], exact=True)
    from talklab.browser.media import OverconstrainedError
    said = check.compare(OverconstrainedError, "OverconstrainedError", about="the error", kind=kind)
    assert "you predicted OverconstrainedError, and it was 'OverconstrainedError'" in said.message
    assert "<class" not in said.message and "as you predicted" in said.message
    said = check.compare("OverConstrainedError", "OverconstrainedError", about="e", kind=kind)
    assert "not what you predicted" in said.message and "letter for letter" in said.message
    assert "the room did" not in said.message  # (no room in 01's frames and errors)


def test_a_space_around_a_name_is_not_letter_for_letter():
    """walk2 01-7: "OverconstrainedError " (a trailing space) was "as you predicted", and
    "NotAllowedError " right; in a browser `e.name === "OverconstrainedError "` is false."""
    said = check.which_error("the user clicked Block last week, and the browser remembered",
                             answer="NotAllowedError ")
    assert said.verdict == "not yet" and "spaces" in said.message
    kind = check.OneOf(["NotFoundError", "OverconstrainedError"], exact=True)
    said = check.compare("OverconstrainedError ", "OverconstrainedError", about="e", kind=kind)
    assert "not what you predicted" in said.message and "letter for letter" in said.message
    loose = check.OneOf(["yes", "no"])  # where a browser does not compare, spaces do not count
    assert loose.same(" Yes ", "yes")
