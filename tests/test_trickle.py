"""Trickle ICE helpers: candidates out of the SDP, back in from browser JSON, held until ready."""

from talklab.ice import RemoteCandidates, candidate_from_json, candidate_to_json, split_candidates

SDP = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "m=audio 5000 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 127.10.0.1",
    "a=candidate:abc 1 udp 2130706431 127.10.0.1 5000 typ host",
    "a=candidate:def 1 udp 1694498815 127.20.0.1 6000 typ srflx raddr 127.10.0.1 rport 5000",
    "a=end-of-candidates", "a=mid:0", "a=ice-ufrag:u", "a=ice-pwd:p", "",
])


def test_split_candidates_keeps_everything_else():
    sdp, candidates = split_candidates(SDP)
    assert "a=candidate" not in sdp and "end-of-candidates" not in sdp
    assert "a=mid:0" in sdp and sdp.startswith("v=0\r\n") and sdp.endswith("\r\n")
    assert [c.sdp_mid for c in candidates] == ["0", "0"]
    assert candidate_to_json(candidates[1]) == {
        "candidate": "candidate:def 1 udp 1694498815 127.20.0.1 6000 typ srflx raddr 127.10.0.1 "
                     "rport 5000",
        "sdpMid": "0", "sdpMLineIndex": 0}


def test_browser_json_round_trip():
    _, candidates = split_candidates(SDP)
    c = candidate_from_json(candidate_to_json(candidates[1]))
    assert (c.type, c.ip, c.port, c.relatedAddress, c.sdpMid) == (
        "srflx", "127.20.0.1", 6000, "127.10.0.1", "0")
    assert candidate_from_json({"candidate": "", "sdpMid": "0"}) is None


async def test_candidates_wait_for_the_remote_description():
    applied = []

    async def apply(c):
        applied.append(c if c is None else c.port)

    queue = RemoteCandidates(apply)
    _, candidates = split_candidates(SDP)
    for c in candidates:
        await queue.add(candidate_to_json(c))
    assert applied == [] and queue.held == 2
    await queue.remote_description_set()
    assert applied == [5000, 6000]
    await queue.add({"candidate": "", "sdpMid": "0"})
    await queue.add(candidate_to_json(candidates[0]))  # after the end: ignored
    assert applied == [5000, 6000, None] and queue.received == 2 and queue.ended


async def test_candidates_beyond_loopback_are_never_used():
    from talklab.ice.trickle import loopback_only
    outside = "candidate:x 1 udp 2122260223 192.0.2.2 40000 typ host"
    mdns = "candidate:y 1 udp 2122260223 abc.local 40001 typ host"
    sdp = SDP.replace("a=end-of-candidates", f"a={outside}\r\na={mdns}")
    kept = loopback_only(sdp)
    assert "192.0.2.2" not in kept and ".local" not in kept and "127.10.0.1 5000" in kept
    applied = []

    async def apply(c):
        applied.append(c)

    queue = RemoteCandidates(apply)
    await queue.remote_description_set()
    await queue.add({"candidate": outside, "sdpMid": "0", "sdpMLineIndex": 0})
    assert applied == [] and queue.ignored == 1
