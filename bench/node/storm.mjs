// Load generator for bench/signaling_storm.py: R rooms x 6 people, speaking only the seed's
// events (so it runs against the seed's Node server as well as talklab's). In each room the
// people join voice one after another (each waits to hear that the previous one joined); on
// userJoinedVoice a person offers to everyone who joined after them; the newcomer answers and
// each side trickles 3 candidates: 8 relayed messages per pair, 120 per room.
// Every message carries an id, its intended recipient and its send time, so the receiver can
// count lost, duplicated and misrouted messages and measure relay latency.
// Usage: node storm.mjs ROOMS URL [URL ...]   (people are spread over the URLs round-robin)
// Prints one JSON line.
import { io } from "socket.io-client";
import { performance } from "node:perf_hooks";

const rooms = Number(process.argv[2]);
const urls = process.argv.slice(3);
const PEOPLE = 6, CANDIDATES = 3;
const expected = rooms * (PEOPLE * (PEOPLE - 1) / 2) * (2 + 2 * CANDIDATES);
const seen = new Map();
const latencies = [];
let misrouted = 0, nextId = 0, sent = 0, lastAt = 0, t0 = 0;

function stamp(to) { return `${nextId++} ${to} ${performance.now().toFixed(3)}`; }
function receive(me, text) {
  const [id, to, at] = text.split(" ");
  seen.set(id, (seen.get(id) || 0) + 1);
  if (to !== me.socket.id) misrouted++;
  const now = performance.now();
  latencies.push(now - Number(at));
  lastAt = now;
  if (latencies.length >= expected) finish();
}

function person(room, index, url) {
  const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
  const me = { socket, room, index, name: `P${index}` };
  const send = (event, key, to) => {
    const text = stamp(to);
    const body = key === "candidate"
      ? { candidate: `candidate:${text} typ host`, sdpMid: "0", sdpMLineIndex: 0 }
      : { type: key, sdp: `v=0\r\ns=${text}\r\n` };
    sent++;
    socket.emit(event, { [key]: body, to });
  };
  socket.on("userJoinedVoice", ({ socketId, username }) => {
    const j = Number(username.slice(1));
    if (j === index - 1) socket.emit("joinVoice", { room });  // my turn: the one before me is in
    if (j > index) send("webrtc-offer", "offer", socketId);
  });
  socket.on("webrtc-offer", ({ offer, from }) => {
    receive(me, offer.sdp.split("s=")[1].trim());
    send("webrtc-answer", "answer", from);
    for (let k = 0; k < CANDIDATES; k++) send("webrtc-ice-candidate", "candidate", from);
  });
  socket.on("webrtc-answer", ({ answer, from }) => {
    receive(me, answer.sdp.split("s=")[1].trim());
    for (let k = 0; k < CANDIDATES; k++) send("webrtc-ice-candidate", "candidate", from);
  });
  socket.on("webrtc-ice-candidate", ({ candidate }) => receive(me, candidate.candidate.slice("candidate:".length)));
  return me;
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  setTimeout(report, 300); // let duplicates (if any) arrive before counting
}
function report() {
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : 0;
  let duplicated = 0;
  seen.forEach((n) => { duplicated += n - 1; });
  console.log(JSON.stringify({
    rooms, clients: rooms * PEOPLE, expected, received: latencies.length,
    seconds: (lastAt - t0) / 1000, relayed_per_s: latencies.length / ((lastAt - t0) / 1000),
    p50_ms: q(0.5), p99_ms: q(0.99), lost: expected - seen.size, duplicated, misrouted,
  }));
  process.exit(0);
}

setTimeout(() => { console.error("storm: timed out"); report(); }, 90000).unref();
const everyone = [];
for (let r = 0; r < rooms; r++) {
  for (let i = 0; i < PEOPLE; i++) everyone.push(person(`R${r}`, i, urls[everyone.length % urls.length]));
}
await Promise.all(everyone.map((p) => new Promise((ok) => p.socket.connected ? ok() : p.socket.once("connect", ok))));
await Promise.all(everyone.map((p) => new Promise((ok) => {
  p.socket.once("roomJoined", ok);
  p.socket.emit("joinRoom", { room: p.room, username: p.name });
})));
t0 = performance.now();
for (const p of everyone.filter((p) => p.index === 0)) p.socket.emit("joinVoice", { room: p.room });
