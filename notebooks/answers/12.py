"""Notebook 12, a class of kernels: the teacher's answer key."""

PREDICTIONS = {
    "calls_without_turn": 1,  # Ana–Ben (host); Cy has only relay candidates, and no TURN exists
    "ana_cy_route": "relay",  # Cy offers relay candidates only: every call with Cy goes via TURN
}

ORDER = ("failed", "closed", "disconnected", "new", "connecting", "connected")


def link_state(a, b):
    """The state the teacher sees for a call whose two ends report a and b (None: nothing yet)."""
    if a is None and b is None:
        return "unreported"
    reported = [s for s in (a, b) if s is not None]
    worse = min(reported, key=ORDER.index)  # a call is as good as its worse end
    if worse == "connected" and len(reported) < 2:
        return "connecting"  # one side hears; the other has not said so yet
    return worse
