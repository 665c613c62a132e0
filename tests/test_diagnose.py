"""talklab.lab.diagnose: why a call did not connect, from plain facts (no lab, no socket)."""

from __future__ import annotations

from talklab.lab.diagnose import End, advice


def test_a_step_that_raised_is_named_before_anything_about_networks():
    said = advice(End("Alice", "symmetric"), End("Bob", "symmetric"), stun=False, turn=False,
                  state="new", error="TypeError: boom")
    assert said == "Alice–Bob: Alice's side of the call stopped at an error: TypeError: boom"


def test_two_nats_and_no_stun_ask_for_stun():
    said = advice(End("Alice", "full-cone"), End("Bob", "restricted"), stun=False, turn=False,
                  state="failed")
    assert "stun=True" in said


def test_a_symmetric_nat_facing_a_port_restricted_one_asks_for_turn():
    said = advice(End("Alice", "symmetric"), End("Bob", "port-restricted"), stun=True,
                  turn=False, state="failed")
    assert "turn=True" in said and "symmetric" in said


def test_in_a_class_the_fix_is_the_teachers():
    said = advice(End("Alice", "none", relay_only=True), End("Bob", "none"), stun=True,
                  turn=False, state="failed", remote=True)
    assert "teacher" in said and "turn=True" not in said.split(";")[1].split("(")[0]


def test_people_behind_one_nat_need_no_stun():
    lan = object()
    said = advice(End("Alice", "symmetric", lan), End("Bob", "symmetric", lan), stun=False,
                  turn=False, state="checking")
    assert "still connecting" in said


def test_no_connection_at_all_asks_about_the_room():
    said = advice(End("Alice", "none"), End("Bob", "none"), stun=True, turn=True, state=None)
    assert "no connection was made" in said
