"""Notebook 09, the capstone: the teacher's answer key."""


async def handle_webrtc_answer(me, data):
    """The seed's handleWebRTCAnswer (Step 7): the answer to my offer arrived; apply it to my
    connection with whoever answered."""
    link = me.links.get(data["from"])
    if link is not None:
        await link.set_remote(data["answer"])


async def handle_webrtc_ice_candidate(me, data):
    """The seed's handleWebRTCICECandidate (Step 8): a route to try, from whoever sent it; add
    it to my connection with them."""
    link = me.links.get(data["from"])
    if link is not None:
        await link.add_ice_candidate(data["candidate"])


async def build_room(lab):
    """Dave's room: Alice and Charlie at the office (one network, one NAT), Bob at home behind
    his router, and Dave last, on his phone behind the carrier's symmetric NAT."""
    office = lab.nat("port-restricted")
    await lab.join("Alice", nat=office, voice=True)
    await lab.join("Charlie", nat=office, voice=True)
    await lab.join("Bob", nat="port-restricted", voice=True)
    await lab.join("Dave", nat="symmetric", voice=True)


PREDICTIONS = {
    # Dave's symmetric NAT gives every destination a new port, and port-restricted NATs
    # answer only the exact address they sent to: Dave's three calls go through TURN
    "relayed_calls": 3,
    # the server's job is done once audio flows (Step 9): all six carry on
    "calls_after_the_server": 6,
}
