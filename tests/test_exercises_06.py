"""Notebook 06 (TURN and NATs): its code exercise (a NAT filtering rule) run live with the
answer key's solution, the stub and the other classic filters, and its self-check judged."""

from __future__ import annotations

import re

import pytest
from helpers import answer_key

from talklab import Lab, check
from talklab.views import LinkStatsView

answers = answer_key("06")
RAW_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>|\b(?:[A-Z]\w+)\((?:\w+=)")


def stub(sent_to, remote):
    raise NotImplementedError


async def test_the_answer_key_filters_real_packets_and_carries_a_live_call():
    feedback = await check.allows(answers.allows)
    assert feedback, feedback
    assert "connected" in feedback.message and "let in" in feedback.message


async def test_the_stub_is_not_yet_at_once():
    feedback = await check.allows(stub)
    assert not feedback and "stub" in feedback.message


@pytest.mark.parametrize("rule, says", [
    (lambda sent_to, remote: True, "full-cone"),                          # anyone
    (lambda sent_to, remote: remote in sent_to, "port-restricted"),       # exact address
    (lambda sent_to, remote: remote[0] == "127.0.0.1", "very address"),   # not from sent_to
    (lambda sent_to, remote: remote[0] in sent_to, "very address"),       # a type slip
])
async def test_the_other_filters_are_told_what_they_are(rule, says):
    feedback = await check.allows(rule)
    assert not feedback and says in feedback.message, feedback.message


async def test_a_rule_that_raises_or_says_maybe_is_explained():
    def broken(sent_to, remote):
        return sent_to[0] == remote  # a frozenset cannot be indexed
    feedback = await check.allows(broken)
    assert not feedback and "TypeError" in feedback.message

    feedback = await check.allows(lambda sent_to, remote: "yes")
    assert not feedback and "True" in feedback.message and "False" in feedback.message

    async def waits(sent_to, remote):
        return True
    feedback = await check.allows(waits)
    assert not feedback and "plain `def`" in feedback.message


@pytest.mark.parametrize("channel, right, wrong", [(True, 164, 160), (False, 196, 164)])
def test_turn_bytes_judges_hints_and_reveals(channel, right, wrong):
    assert check.turn_bytes(payload=160, channel=channel, answer=right)
    feedback = check.turn_bytes(payload=160, channel=channel, answer=wrong)
    assert feedback.verdict == "not yet" and str(right) not in feedback.message
    assert check.turn_bytes(payload=160, channel=channel, answer=str(right)).verdict == \
        "wrong type"
    assert str(right) in check.reveal(check.turn_bytes, payload=160, channel=channel).message


def test_turn_bytes_pads_the_data_of_an_indication():
    assert check.turn_bytes(payload=161, channel=False, answer=20 + 12 + 4 + 164)
    assert check.turn_bytes(payload=161, channel=True, answer=165)  # ChannelData over UDP


async def test_the_live_stats_view_shows_words_not_a_widget_repr(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    published = []
    monkeypatch.setattr(shell.display_pub, "publish",
                        lambda data, **kw: published.append(data))
    async with Lab() as lab:
        view = LinkStatsView(lab)
        view._ipython_display_()
    bundle, *updates = published  # shown, then replaced in place by its last frame
    assert "text/html" in bundle and "application/vnd.jupyter.widget-view+json" not in bundle
    assert updates and "stopped" in updates[-1]["text/html"]
    assert "counters, live" in bundle["text/plain"] and not RAW_REPR.search(bundle["text/plain"])


async def test_a_rule_that_looks_at_the_port_alone_is_told_so():
    """A port-only rule was told it was port-restricted, a rule it had not written."""
    def allows(sent_to, remote):
        return any(port == remote[1] for _ip, port in sent_to)
    said = await check.allows(allows)
    assert not said and "port alone" in said.message and "port-restricted" not in said.message
