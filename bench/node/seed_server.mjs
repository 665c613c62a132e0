// The seed's signaling server (sockets/index.js) as the seed shows it, on Node's socket.io:
// a joinRoom handler its UI implies, joinVoice with the 6-seat count over userSocketMap, and
// the three relays, passed along blindly. Kept for bench/signaling_storm.py to compare against.
// Usage: node seed_server.mjs PORT   (prints "listening PORT")
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 0);
const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });
const userSocketMap = new Map();
let nextUser = 1;

io.on("connection", (socket) => {
  socket.on("joinRoom", ({ room, username }) => {
    userSocketMap.set(socket.id, { userId: `u${nextUser++}`, username, roomCode: room, inVoice: false });
    socket.join(room);
    // the UI lists the room's members, so the joiner hears who is there
    const members = [];
    userSocketMap.forEach((val, id) => { if (val.roomCode === room) members.push({ socketId: id, username: val.username, inVoice: val.inVoice }); });
    socket.emit("roomJoined", { room, socketId: socket.id, members });
    socket.to(room).emit("userJoinedRoom", { socketId: socket.id, username });
  });

  socket.on("joinVoice", ({ room }) => {
    const userData = userSocketMap.get(socket.id);
    let voiceCount = 0;
    userSocketMap.forEach((val) => {
      if (val.roomCode === room && val.inVoice) voiceCount++;
    });
    if (voiceCount >= 6) {
      socket.emit("voiceError", { message: "Voice channel is full!" });
      return;
    }
    userData.inVoice = true;
    userSocketMap.set(socket.id, userData);
    socket.to(room).emit("userJoinedVoice", { socketId: socket.id, userId: userData.userId, username: userData.username });
  });

  socket.on("webrtc-offer", ({ offer, to }) => {
    socket.to(to).emit("webrtc-offer", { offer, from: socket.id });
  });
  socket.on("webrtc-answer", ({ answer, to }) => {
    socket.to(to).emit("webrtc-answer", { answer, from: socket.id });
  });
  socket.on("webrtc-ice-candidate", ({ candidate, to }) => {
    socket.to(to).emit("webrtc-ice-candidate", { candidate, from: socket.id });
  });
  socket.on("disconnect", () => userSocketMap.delete(socket.id));
});

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${httpServer.address().port}`));
