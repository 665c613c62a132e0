"""The teacher's answer key for 00-the-big-picture: its predictions and self-checks.

00 has no code exercise (01 is the first). The predictions are measured live in the notebook,
so the numbers below are what the seed's scenario gives: 3 already in voice, Dave the 4th.
"""

PREDICTIONS = {
    "offers_to_dave": 3,  # one from each of Alice, Bob and Charlie (Step 3); Dave only answers
    "calls_after_dave": 6,  # 4 people, n(n-1)/2 = 6 pairs; Dave added 3
    "copies_of_your_voice": 3,  # one per call: Alice, Bob and Charlie each get their own copy
}

SELF_CHECKS = {
    # Eve joins: five in voice, 5 x 4 / 2 calls
    "check.mesh_links(5)": 10,
    # per call: offer + answer + (2 candidates + end-of-candidates) from each side = 8; 5 calls
    "check.relayed_messages(in_voice=5, candidates=2)": 40,
}
