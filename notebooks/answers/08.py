"""Notebook 08, the full mesh: the teacher's answer key."""

PREDICTIONS = {
    "calls_after_bob": 10,  # Bob leaves a room of 6: 5 people remain, 5 × 4 / 2 = 10 calls
    # each of six sends its voice to five, 50 packets a second to each (a 20 ms frame): 250
    "uploads_at_six": 250,
    "ten_in_real_time": False,  # on this 2-core machine, 90 streams in one process fall behind
}

# Self-checks:
#   check.upload_streams(6, answer=5)
#   check.calls_after_leaving(n=6, leaving=2, answer=6)


async def handle_user_left_voice(me, data):
    """Someone left voice: hang up the call with them (and only that one)."""
    link = me.links.pop(data["socketId"], None)
    if link is not None:
        await link.close()
