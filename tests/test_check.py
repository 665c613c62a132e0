"""Every self-check accepts the right answer and explains a wrong one."""

import pytest

from talklab import check
from talklab.media import NotAllowedError

CASES = [
    (check.mesh_links, dict(n=6), 15, 30),
    (check.offers_to_newcomer, dict(in_voice=3), 3, 1),
    (check.samples_per_frame, {}, 960, 480),
    (check.xor_port, dict(xored=0xA147), 32853, 0xA147),
    (check.candidate_priority, dict(type="relay"), 16777215, 0),
    (check.upload_streams, dict(n=6), 5, 1),
    (check.error_for, dict(situation="permission denied"), NotAllowedError, "NotFoundError"),
    (check.error_for, dict(situation="no microphone"), "NotFoundError", "NotAllowedError"),
    (check.relay_allowed, dict(same_room=True, sender_in_voice=True, target_in_voice=False),
     False, True),
    (check.connects, dict(a="port-restricted", b="symmetric"), False, True),
    (check.connects, dict(a="symmetric", b="symmetric", turn=True), True, False),
    (check.connects, dict(a="full-cone", b="symmetric"), True, False),
    (check.sdp_codec, dict(sdp="v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\n"
                               "a=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"),
     "opus", "pcmu"),
]


@pytest.mark.parametrize("fn,kwargs,right,wrong", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_right_is_accepted_and_wrong_is_explained(fn, kwargs, right, wrong):
    assert fn(**kwargs, answer=right)
    feedback = fn(**kwargs, answer=wrong)
    assert not feedback and len(feedback.message) > 20
    assert "not yet" in feedback._repr_html_()
    pending = fn(**kwargs, answer=None)
    assert not pending and "replace None" in pending.message  # no answer given away


async def test_capstone_checks_a_real_room():
    from talklab import Lab
    async with Lab(stun=True, turn=True) as lab:
        alice = await lab.join("Alice", nat="symmetric", voice=True)
        feedback = check.capstone(lab)
        assert not feedback and "at least 3" in feedback.message
        await lab.join("Bob", nat="symmetric", voice=True)
        charlie = await lab.join("Charlie", nat="full-cone", voice=True)
        await lab.wait_connected(15)
        await charlie.wait_heard(1.0)
        await alice.wait_heard(1.0)
        assert check.capstone(lab), check.capstone(lab).message
    async with Lab(stun=True) as lab:
        for name in ("A", "B", "C"):
            await lab.join(name, voice=True)
        await lab.wait_connected(10)
        for p in lab.people.values():
            await p.wait_heard(1.0)
        feedback = check.capstone(lab)
        assert not feedback and "TURN" in feedback.message
