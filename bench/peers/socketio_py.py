"""python-socketio peer on aiohttp: what a Python team picks for "a chat
with rooms". Same job and protocol subset as the other peers, carried in
one Socket.IO event "chat" (see socketio_node.js); a broadcast is
``sio.emit(..., room=...)``. WebSocket transport only.

    python peers/socketio_py.py PORT
"""

import itertools
import sys
import time

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"], max_http_buffer_size=65536)
users: dict[str, dict] = {}  # sid -> {"id", "name"}
joined: dict[str, set[str]] = {}  # sid -> rooms it joined
user_ids = itertools.count(1)
message_ids = itertools.count(1)


async def answer(sid: str, req: dict, frame: dict) -> None:
    if "cid" in req:
        frame["cid"] = req["cid"]
    await sio.emit("chat", frame, to=sid)


async def identify(sid: str, req: dict) -> None:
    users[sid] = user = {"id": next(user_ids), "name": req["name"]}
    joined[sid] = set()
    await answer(sid, req, {"type": "welcome", "session": sid, "user": user, "token": "",
                            "messages": [], "more": False})


async def create(sid: str, req: dict) -> None:
    await answer(sid, req, {"type": "created", "room": {"name": req["room"], "topic": ""}})


async def join(sid: str, req: dict) -> None:
    room = req["room"]
    if room not in joined[sid]:
        await sio.emit("chat", {"type": "presence", "room": room, "event": "join", "user": users[sid]},
                       room=room, skip_sid=sid)
        await sio.enter_room(sid, room)
        joined[sid].add(room)
    members = [users[s] for s, _ in sio.manager.get_participants("/", room)]
    await answer(sid, req, {"type": "joined", "room": room, "topic": "", "members": members,
                            "messages": [], "more": False})


async def say(sid: str, req: dict) -> None:
    room = req["room"]
    if room not in joined[sid]:
        await answer(sid, req, {"type": "error", "code": "not_in_room", "message": "join first"})
        return
    message_id, ts = next(message_ids), int(time.time() * 1000)
    await answer(sid, req, {"type": "ack", "id": message_id, "ts": ts})
    await sio.emit("chat", {"type": "message", "id": message_id, "room": room, "from": users[sid],
                            "text": req["text"], "ts": ts}, room=room)


HANDLERS = {"identify": identify, "create": create, "join": join, "say": say}


@sio.on("chat")
async def chat(sid: str, req: dict) -> None:
    handler = HANDLERS.get(req.get("type")) if isinstance(req, dict) else None
    if handler is None:
        await answer(sid, {}, {"type": "error", "code": "unknown_type", "message": "unknown type"})
    elif sid not in users and handler is not identify:
        await answer(sid, req, {"type": "error", "code": "not_identified", "message": "identify first"})
    else:
        await handler(sid, req)


@sio.event
async def disconnect(sid: str, *args) -> None:
    user = users.pop(sid, None)
    for room in joined.pop(sid, ()):
        await sio.emit("chat", {"type": "presence", "room": room, "event": "leave", "user": user},
                       room=room, skip_sid=sid)


def main() -> None:
    app = web.Application()
    sio.attach(app)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
