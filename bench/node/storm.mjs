// Load generator for bench/signaling_storm.py: R rooms x 6 people, speaking only the seed's
// events (so it runs against the seed's Node server as well as talklab's). Everyone joins their
// room, then all of them join voice at once (the class starting at nine). Whoever hears
// userJoinedVoice about a person with a higher number offers to them (so each pair negotiates
// once, whatever order the server admitted them in); the other answers, and each side trickles
// 3 candidates: 8 relayed messages per pair, 120 per room.
// Every message carries an id, its intended recipient and its send time, so the receiver can
// count lost, duplicated and misrouted messages and measure relay latency.
// Each person is a lean Socket.IO client (below) rather than socket.io-client: on this 2-core
// machine socket.io-client cost the generator most of a core at 30k messages/s, which left
// the servers under test less than the machine has.
// Usage: node storm.mjs ROOMS [--by-room] URL [URL ...]
//   people are spread over the URLs one by one; with --by-room, each room's people on one URL
// Prints one JSON line.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

// Socket.IO v5 over Engine.IO v4 on a WebSocket, as far as the seed's events need: text
// packets only. Engine.IO: "0" open, "2" ping (we answer "3"), "4" message. Socket.IO inside a
// message: "0" connect to the default namespace (the server answers with our id), "2" event
// (a JSON array [name, data]).
class LeanSocket {
  constructor(url) {
    this.handlers = new Map();
    this.id = undefined;
    this.connected = false;
    const ws = new WebSocket(url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket",
                             { perMessageDeflate: { threshold: 1024 } });  // as socket.io-client offers
    this.ws = ws;
    ws.on("message", (buf) => {
      const text = buf.toString();
      switch (text[0]) {
        case "0": ws.send("40"); break;  // Engine.IO open: connect to namespace "/"
        case "2": ws.send("3"); break;  // ping -> pong
        case "4":
          if (text[1] === "2") { const [event, data] = JSON.parse(text.slice(2)); this.fire(event, data); }
          else if (text[1] === "0") { this.id = JSON.parse(text.slice(2)).sid; this.connected = true; this.fire("connect"); }
          break;
      }
    });
  }
  on(event, fn) { (this.handlers.get(event) || this.handlers.set(event, []).get(event)).push(fn); }
  once(event, fn) { const wrap = (d) => { this.off(event, wrap); fn(d); }; this.on(event, wrap); }
  off(event, fn) { const list = this.handlers.get(event) || []; list.splice(list.indexOf(fn), 1); }
  fire(event, data) { for (const fn of [...(this.handlers.get(event) || [])]) fn(data); }
  emit(event, data) {
    // Hold this tick's frames and write them together, as the talklab server does: an answer
    // and its three candidates leave in one system call, not four.
    if (!this.corked && this.ws._socket) {
      this.corked = true;
      this.ws._socket.cork();
      process.nextTick(() => { this.corked = false; this.ws._socket.uncork(); });
    }
    this.ws.send("42" + JSON.stringify([event, data]));
  }
}

const rooms = Number(process.argv[2]);
const byRoom = process.argv[3] === "--by-room";
const urls = process.argv.slice(byRoom ? 4 : 3);
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
  const socket = new LeanSocket(url);
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
  for (let i = 0; i < PEOPLE; i++) everyone.push(person(`R${r}`, i, urls[(byRoom ? r : everyone.length) % urls.length]));
}
await Promise.all(everyone.map((p) => new Promise((ok) => p.socket.connected ? ok() : p.socket.once("connect", ok))));
await Promise.all(everyone.map((p) => new Promise((ok) => {
  p.socket.once("roomJoined", ok);
  p.socket.emit("joinRoom", { room: p.room, username: p.name });
})));
t0 = performance.now();
for (const p of everyone) p.socket.emit("joinVoice", { room: p.room });
