"""The seed's server (sockets/index.js) ported to python-socketio as one would at first: library
defaults everywhere (async handlers, compression offered), the seed's logic unchanged, a joinRoom
its UI implies. The baseline bench/signaling_storm.py measures talklab-server against.

    python bench/stock_server.py PORT     (prints "listening PORT")
"""

import sys

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
app = web.Application()
sio.attach(app)
user_socket_map: dict[str, dict] = {}
next_user = iter(range(1, 10**9))


@sio.on("joinRoom")
async def join_room(sid, data):
    room, username = data["room"], data["username"]
    user_socket_map[sid] = {"userId": f"u{next(next_user)}", "username": username,
                            "roomCode": room, "inVoice": False}
    await sio.enter_room(sid, room)
    members = [{"socketId": s, "username": v["username"], "inVoice": v["inVoice"]}
               for s, v in user_socket_map.items() if v["roomCode"] == room]
    await sio.emit("roomJoined", {"room": room, "socketId": sid, "members": members}, to=sid)
    await sio.emit("userJoinedRoom", {"socketId": sid, "username": username}, room=room,
                   skip_sid=sid)


@sio.on("joinVoice")
async def join_voice(sid, data):
    room = data["room"]
    user_data = user_socket_map.get(sid)
    voice_count = sum(1 for v in user_socket_map.values() if v["roomCode"] == room and v["inVoice"])
    if voice_count >= 6:
        await sio.emit("voiceError", {"message": "Voice channel is full!"}, to=sid)
        return
    user_data["inVoice"] = True
    await sio.emit("userJoinedVoice", {"socketId": sid, "userId": user_data["userId"],
                                       "username": user_data["username"]}, room=room,
                   skip_sid=sid)


@sio.on("webrtc-offer")
async def offer(sid, data):
    await sio.emit("webrtc-offer", {"offer": data["offer"], "from": sid}, to=data["to"])


@sio.on("webrtc-answer")
async def answer(sid, data):
    await sio.emit("webrtc-answer", {"answer": data["answer"], "from": sid}, to=data["to"])


@sio.on("webrtc-ice-candidate")
async def candidate(sid, data):
    await sio.emit("webrtc-ice-candidate", {"candidate": data["candidate"], "from": sid},
                   to=data["to"])


@sio.on("disconnect")
async def disconnect(sid, *args):
    user_socket_map.pop(sid, None)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0

    async def ready(app):
        print(f"listening {port}", flush=True)

    app.on_startup.append(ready)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
