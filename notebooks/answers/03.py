"""The teacher's answer key for 03-offer-and-answer: the two exercises' solutions, the
predictions and the self-checks."""


async def handle_user_joined_voice(me, data):
    """The seed's handleUserJoinedVoice (Step 3): someone joined voice; make a connection for
    them, create an offer, set it as the local description, and send it to them."""
    link = me.create_peer_connection(data["socketId"], data["username"])
    offer = await link.pc.createOffer()
    await link.set_local(offer)  # gathers the candidates, into the description
    local = link.pc.localDescription
    await me.emit("webrtc-offer", {"offer": {"type": local.type, "sdp": local.sdp},
                                   "to": data["socketId"]})


async def handle_webrtc_offer(me, data):
    """The seed's handleWebRTCOffer (Step 5): an offer arrived; make a connection for whoever
    sent it, apply their offer, create an answer, set it, and send it back."""
    link = me.create_peer_connection(data["from"], role="answerer")
    await link.set_remote(data["offer"])
    answer = await link.pc.createAnswer()
    await link.set_local(answer)
    local = link.pc.localDescription
    await me.emit("webrtc-answer", {"answer": {"type": local.type, "sdp": local.sdp},
                                    "to": data["from"]})


PREDICTIONS = {
    "offer_sent_by": "Alice",  # those already in voice offer (Step 3)
    "trickle_faster_on_loopback": False,  # gathering is instant there: nothing to save
}

SELF_CHECKS = {
    "check.line_for(\"Alice's NAT maps her socket to another public port\")": "a=candidate",
    "check.line_for(\"Alice's browser makes itself a new DTLS certificate\")": "a=fingerprint",
    "check.gather_first_delay(stun_ms=300)": 600,  # one STUN wait per side, within 60 ms
}
