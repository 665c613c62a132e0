// A client written for the seed, not for talklab: socket.io-client v4 and the seed's events and
// payloads exactly as ChatRoom.jsx emits and handles them. The only event the seed's document
// does not show is joinRoom (its UI implies one). Node has no RTCPeerConnection, so offers,
// answers and candidates carry fixed strings: the test is about the postman, not the letters.
//
// Usage: node seed_client.mjs http://127.0.0.1:PORT   -> prints one JSON report, exits 0/1.
import { io } from "socket.io-client";

const url = process.argv[2];
const ROOM = "ABCD12";
const deadline = setTimeout(() => fail("timed out"), 15000);

function fail(why) {
  console.log(JSON.stringify({ ok: false, why }));
  process.exit(1);
}

function waitFor(check, what, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const v = check();
      if (v) return resolve(v);
      if (Date.now() - t0 > ms) return reject(new Error(`waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

// One "browser": the seed's handlers, recording what arrives.
function browser(name) {
  const socket = io(url, { transports: ["websocket"], reconnection: false });
  const me = { name, socket, offersFrom: [], answersFrom: [], candidatesFrom: [], joined: [],
               left: [], voiceErrors: [] };
  socket.on("userJoinedVoice", ({ socketId, username }) => {
    me.joined.push({ socketId, username });
    // Step 3: an existing member sends the newcomer an offer.
    const offer = { type: "offer", sdp: `v=0\r\ns=offer from ${name}\r\n` };
    socket.emit("webrtc-offer", { offer, to: socketId });
  });
  socket.on("webrtc-offer", ({ offer, from }) => {
    me.offersFrom.push({ from, sdp: offer.sdp });
    // Step 5: the newcomer answers, then trickles a candidate.
    socket.emit("webrtc-answer", { answer: { type: "answer", sdp: `v=0\r\ns=answer from ${name}\r\n` }, to: from });
    socket.emit("webrtc-ice-candidate", {
      candidate: { candidate: `candidate:1 1 udp 2130706431 127.0.0.1 9 typ host`, sdpMid: "0", sdpMLineIndex: 0 },
      to: from,
    });
  });
  socket.on("webrtc-answer", ({ answer, from }) => {
    me.answersFrom.push({ from, sdp: answer.sdp });
    socket.emit("webrtc-ice-candidate", {
      candidate: { candidate: `candidate:2 1 udp 2130706431 127.0.0.1 9 typ host`, sdpMid: "0", sdpMLineIndex: 0 },
      to: from,
    });
  });
  socket.on("webrtc-ice-candidate", ({ candidate, from }) => me.candidatesFrom.push(from));
  socket.on("userLeftVoice", ({ socketId }) => me.left.push(socketId));
  socket.on("voiceError", ({ message }) => me.voiceErrors.push(message));
  return me;
}

async function connected(b) {
  await waitFor(() => b.socket.connected, `${b.name} to connect`);
  b.id = b.socket.id;
  return b;
}

// Step 1-2 for one person: join the room, click "Join Voice"; wait until the others heard it.
async function joinVoice(b, alreadyIn) {
  b.socket.emit("joinRoom", { room: ROOM, username: b.name });
  b.socket.emit("joinVoice", { room: ROOM });
  for (const other of alreadyIn) {
    await waitFor(() => other.joined.some((j) => j.socketId === b.id), `${other.name} to hear ${b.name}`);
  }
}

try {
  const [alice, bob, charlie, dave] = await Promise.all(["Alice", "Bob", "Charlie", "Dave"].map((n) => connected(browser(n))));
  const inVoice = [];
  for (const b of [alice, bob, charlie]) {
    await joinVoice(b, inVoice);
    inVoice.push(b);
  }
  // Dave clicks "Join Voice".
  await joinVoice(dave, inVoice);
  await waitFor(() => dave.offersFrom.length === 3, "three offers to reach Dave");
  await waitFor(() => [alice, bob, charlie].every((b) => b.answersFrom.some((a) => a.from === dave.id)), "Dave's answers");
  await waitFor(() => [alice, bob, charlie].every((b) => b.candidatesFrom.includes(dave.id)), "Dave's candidates");
  await waitFor(() => [alice, bob, charlie].every((b) => dave.candidatesFrom.includes(b.id)), "candidates to Dave");
  inVoice.push(dave);
  const candidatesToDave = [...dave.candidatesFrom];

  // Fill the channel to 6, then a 7th is refused with the seed's message.
  const [eve, frank, grace] = await Promise.all(["Eve", "Frank", "Grace"].map((n) => connected(browser(n))));
  for (const b of [eve, frank]) {
    await joinVoice(b, inVoice);
    inVoice.push(b);
  }
  grace.socket.emit("joinRoom", { room: ROOM, username: "Grace" });
  grace.socket.emit("joinVoice", { room: ROOM });
  await waitFor(() => grace.voiceErrors.length === 1, "Grace's voiceError");

  // Eve closes her tab: everyone else is told; Grace takes the freed seat.
  eve.socket.disconnect();
  const stayed = inVoice.filter((b) => b !== eve);
  await waitFor(() => stayed.every((b) => b.left.includes(eve.id)), "userLeftVoice for Eve");
  grace.socket.emit("joinVoice", { room: ROOM });
  await waitFor(() => stayed.every((b) => b.joined.some((j) => j.socketId === grace.id)), "Grace to take the seat");
  await waitFor(() => grace.offersFrom.length === 5, "five offers to reach Grace");

  const report = {
    ok: true,
    ids: Object.fromEntries([alice, bob, charlie, dave, eve, frank, grace].map((b) => [b.name, b.id])),
    offersToDave: dave.offersFrom.map((o) => o.from),
    offerTexts: dave.offersFrom.map((o) => o.sdp),
    answersFromDave: Object.fromEntries([alice, bob, charlie].map((b) => [b.name, b.answersFrom.filter((a) => a.from === dave.id).length])),
    candidatesToDave,
    graceVoiceErrors: grace.voiceErrors,
    leftVoiceSeenBy: Object.fromEntries(stayed.map((b) => [b.name, b.left])),
    offersToGrace: grace.offersFrom.map((o) => o.from),
  };
  for (const b of [alice, bob, charlie, dave, frank, grace]) b.socket.disconnect();
  clearTimeout(deadline);
  console.log(JSON.stringify(report));
  process.exit(0);
} catch (err) {
  fail(String(err && err.message || err));
}
