"""Notebook 02, the signaling server: the teacher's answer key."""

# Predictions, as a class should have worked them out:
PREDICTIONS = {
    "alice_hears": "userJoinedVoice",  # Bob joins voice: Alice is told, and will offer to him
    "seats_given": 4,  # Alice and Bob hold 2 of 6 seats: 4 left, and each join is one step
    "calls_survive": True,  # the postman leaves; audio never went through him
}

# Self-checks:
#   check.relay_allowed(same_room=True, sender_in_voice=True, target_in_voice=False, answer=False)
#   check.seats_taken(in_voice=4, clicking=3, answer=2)   # 6 − 4 seats left


def relay_answer(sid, data):
    """The seed's Step 6: pass Dave's answer on to the one who offered, saying it is from Dave."""
    return data["to"], {"answer": data["answer"], "from": sid}
