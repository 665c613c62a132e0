"""Notebook 11, past the mesh: the teacher's answer key."""

PREDICTIONS = {
    "mcu_downloads_at_six": 1,  # one stream: the mix of the five others
    "mcu_download_grows": False,  # one mix comes down, about 64 kbps, for 3 as for 6
}

# Self-check: check.janus_sends(n=6, answer=30)   # each of 6 receives the 5 others


def streams_for(topology, n):
    """The RTP streams one person uploads and downloads in a room of n."""
    if topology == "mesh":
        return (n - 1, n - 1)  # a call with each other person, a copy of the voice on each
    if topology == "sfu":
        return (1, n - 1)  # one upload; Janus forwards every other voice as it came
    return (1, 1)  # mcu: one upload, one mix down
