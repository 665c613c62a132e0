// The seed's browser client (ChatRoom.jsx), in plain JavaScript, for talklab's signaling server.
// It follows the seed step by step: getUserMedia, joinVoice, offers from those already in voice,
// answers from the newcomer, trickled ICE candidates, leave. It adds what a learner needs to see:
// each connection's state and route, and a WebAudio analyser per remote person (headless
// Chromium's getStats() audio levels stay 0, an analyser does not).
// Query parameters: ?room=ABCD12&name=Dave&join=voice opens straight into the room (and voice).
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {
  room: null, socketId: null, inVoice: false, error: "",
  members: {},          // socketId -> {username, inVoice}
  peers: {},            // socketId -> {pc, name, state, route, hz, level, analyser, queued}
};
let socket = null;
let localStream = null;
let iceServers = [];
const audioContext = new (window.AudioContext || window.webkitAudioContext)();

// Read by tests and curious learners: window.talklab.state()
window.talklab = {
  state: () => ({
    room: state.room, socketId: state.socketId, inVoice: state.inVoice, error: state.error,
    members: Object.fromEntries(Object.entries(state.members).map(([id, m]) => [id, { ...m }])),
    peers: Object.fromEntries(Object.entries(state.peers).map(([id, p]) =>
      [id, { name: p.name, state: p.state, route: p.route, hz: p.hz, level: p.level }])),
  }),
};

function showError(message) { state.error = message; $("error").textContent = message; }

// -- Step 1 and 2: mic, then tell the server ------------------------------------------------------
async function handleJoinVoice() {
  showError("");
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError(`${err.name}: ${err.message}`);
    return;
  }
  socket.emit("joinVoice", { room: state.room });
}

function handleLeaveVoice() {
  for (const id of Object.keys(state.peers)) closePeer(id);
  socket.emit("leaveVoice", { room: state.room });
  stopLocal();
}

function stopLocal() {
  if (localStream) localStream.getTracks().forEach((t) => t.stop());
  localStream = null;
  state.inVoice = false;
  render();
}

// -- one RTCPeerConnection per other person ------------------------------------------------------
function createPeerConnection(socketId) {
  const pc = new RTCPeerConnection({ iceServers });
  const peer = { pc, name: state.members[socketId]?.username || socketId, state: "new",
                 route: null, hz: null, level: null, analyser: null, queued: [] };
  state.peers[socketId] = peer;
  localStream.getTracks().forEach((track) => pc.addTrack(track, localStream));

  // Step 8: send each discovered route to the other person via the signaling server.
  pc.onicecandidate = (event) => {
    if (event.candidate) {
      socket.emit("webrtc-ice-candidate", { candidate: event.candidate, to: socketId });
    }
  };
  pc.ontrack = (event) => listen(peer, event.streams[0] || new MediaStream([event.track]));
  pc.onconnectionstatechange = () => {
    peer.state = pc.connectionState;
    if (pc.connectionState === "connected") updateRoute(peer);
    render();
  };
  render();
  return pc;
}

function closePeer(socketId) {
  const peer = state.peers[socketId];
  if (!peer) return;
  peer.pc.close();
  if (peer.audio) peer.audio.srcObject = null;
  delete state.peers[socketId];
  render();
}

async function applyQueued(peer) {
  const queued = peer.queued;
  peer.queued = [];
  for (const candidate of queued) await peer.pc.addIceCandidate(candidate);
}

// Step 3: someone joined voice; as one already in it, send them an offer.
async function handleUserJoinedVoice({ socketId, userId, username }) {
  state.members[socketId] = { username, inVoice: true };
  render();
  if (!state.inVoice) return;
  const pc = createPeerConnection(socketId);
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  socket.emit("webrtc-offer", { offer, to: socketId });
}

// Step 5: the newcomer answers each offer.
async function handleWebRTCOffer({ offer, from }) {
  if (!state.inVoice) return;
  const pc = createPeerConnection(from);
  await pc.setRemoteDescription(new RTCSessionDescription(offer));
  await applyQueued(state.peers[from]);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  socket.emit("webrtc-answer", { answer, to: from });
}

// Step 7: accept the answer.
async function handleWebRTCAnswer({ answer, from }) {
  const peer = state.peers[from];
  if (!peer) return;
  await peer.pc.setRemoteDescription(new RTCSessionDescription(answer));
  await applyQueued(peer);
}

// Step 8, receiving: a candidate may come before the description it belongs to: hold it.
async function handleWebRTCICECandidate({ candidate, from }) {
  const peer = state.peers[from];
  if (!peer) return;
  const ice = candidate.candidate ? new RTCIceCandidate(candidate) : null;
  if (!ice) return; // end-of-candidates: nothing to add
  if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(ice);
  else peer.queued.push(ice);
}

// -- Step 9: hear each person ------------------------------------------------------------------
function listen(peer, stream) {
  // Chromium only runs a remote stream through WebAudio while a media element plays it too.
  peer.audio = new Audio();
  peer.audio.srcObject = stream;
  peer.audio.muted = params.get("mute") === "1";
  peer.audio.play().catch(() => {});
  const source = audioContext.createMediaStreamSource(stream);
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 32768; // 1.46 Hz per bin at 48 kHz
  analyser.smoothingTimeConstant = 0;
  source.connect(analyser);
  peer.analyser = analyser;
  audioContext.resume().catch(() => {});
}

function measure(peer) {
  const a = peer.analyser;
  if (!a) return;
  const spectrum = new Float32Array(a.frequencyBinCount);
  a.getFloatFrequencyData(spectrum);
  const binHz = audioContext.sampleRate / a.fftSize;
  const first = Math.ceil(50 / binHz);
  let k = first;
  for (let i = first; i < spectrum.length - 1; i++) if (spectrum[i] > spectrum[k]) k = i;
  const wave = new Float32Array(a.fftSize);
  a.getFloatTimeDomainData(wave);
  let sum = 0;
  for (const v of wave) sum += v * v;
  const rms = Math.sqrt(sum / wave.length);
  peer.level = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
  if (peer.level < -60) { peer.hz = null; return; }
  const [l, c, r] = [spectrum[k - 1], spectrum[k], spectrum[k + 1]];
  const d = l - 2 * c + r;
  peer.hz = (k + (d ? 0.5 * (l - r) / d : 0)) * binHz;
}

async function updateRoute(peer) {
  const stats = await peer.pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
  if (!pair) return;
  const types = [stats.get(pair.localCandidateId), stats.get(pair.remoteCandidateId)].map((c) => c && c.candidateType);
  peer.route = ["relay", "srflx", "prflx"].find((t) => types.includes(t)) || "host";
  render();
}

// -- the page -----------------------------------------------------------------------------------
function render() {
  $("status").textContent = state.room
    ? `room ${state.room} · ${state.inVoice ? "in voice" : "not in voice"}`
    : (socket && socket.connected ? "connected" : "not connected");
  $("joinVoice").disabled = !state.room || state.inVoice;
  $("joinRoom").disabled = !!state.room;
  $("leaveVoice").disabled = !state.inVoice;
  const rows = Object.entries(state.members).map(([id, m]) => {
    const me = id === state.socketId;
    const peer = state.peers[id];
    const level = peer && peer.level != null && isFinite(peer.level) ? Math.max(0, Math.min(100, (peer.level + 60) * 100 / 60)) : 0;
    return `<tr data-sid="${id}"><td>${escapeHtml(m.username)}${me ? " (you)" : ""}</td>
      <td>${m.inVoice ? "in voice" : ""}</td>
      <td class="${peer ? peer.state : ""}">${peer ? peer.state : ""}</td>
      <td>${peer && peer.route ? peer.route : ""}</td>
      <td class="hz">${peer && peer.hz ? peer.hz.toFixed(1) : ""}</td>
      <td><div class="meter"><div style="width:${level}%"></div></div></td></tr>`;
  });
  $("members").innerHTML = rows.join("");
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function connect(room, username) {
  // ?room= on the connection itself: a load balancer in front of several talklab-servers can
  // route by it, so a room's people share a server (the server ignores it).
  socket = io({ path: new URL("socket.io", location.href).pathname, transports: ["websocket"], query: { room } });
  socket.on("connect", () => { state.socketId = socket.id; socket.emit("joinRoom", { room, username }); });
  socket.on("roomJoined", ({ room, socketId, members }) => {
    state.room = room;
    state.members = Object.fromEntries(members.map((m) => [m.socketId, { username: m.username, inVoice: m.inVoice }]));
    render();
    if (params.get("join") === "voice") handleJoinVoice();
  });
  socket.on("userJoinedRoom", ({ socketId, username }) => { state.members[socketId] = { username, inVoice: false }; render(); });
  socket.on("userLeftRoom", ({ socketId }) => { delete state.members[socketId]; closePeer(socketId); });
  socket.on("voiceJoined", () => { state.inVoice = true; if (state.members[state.socketId]) state.members[state.socketId].inVoice = true; render(); });
  socket.on("voiceLeft", () => { if (state.members[state.socketId]) state.members[state.socketId].inVoice = false; stopLocal(); });
  socket.on("voiceError", ({ message }) => { showError(message); stopLocal(); });
  socket.on("signalingError", ({ event, message }) => showError(`${event}: ${message}`));
  socket.on("userJoinedVoice", handleUserJoinedVoice);
  socket.on("userLeftVoice", ({ socketId }) => { if (state.members[socketId]) state.members[socketId].inVoice = false; closePeer(socketId); });
  socket.on("webrtc-offer", handleWebRTCOffer);
  socket.on("webrtc-answer", handleWebRTCAnswer);
  socket.on("webrtc-ice-candidate", handleWebRTCICECandidate);
  socket.on("disconnect", () => { state.room = null; render(); });
}

async function start() {
  try {
    iceServers = (await (await fetch("config")).json()).iceServers || [];
  } catch (err) { iceServers = []; }
  $("joinForm").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!socket) connect($("room").value, $("name").value);
  });
  $("joinVoice").addEventListener("click", handleJoinVoice);
  $("leaveVoice").addEventListener("click", handleLeaveVoice);
  setInterval(() => { Object.values(state.peers).forEach(measure); if (Object.keys(state.peers).length) render(); }, 250);
  if (params.get("room")) $("room").value = params.get("room");
  if (params.get("name")) $("name").value = params.get("name");
  render();
  if (params.get("room") && params.get("name")) connect(params.get("room"), params.get("name"));
}

start();
