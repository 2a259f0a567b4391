"""A plain Tornado chat, as most Tornado chat servers are written: a set of
handlers per room and ``write_message(dict)`` per recipient, which
JSON-encodes and frames the message again for every member and schedules
a write each time. Same protocol subset as the other peers; no persistence.

    python peers/tornado_naive.py PORT
"""

import asyncio
import itertools
import signal
import sys
import time

from tornado.escape import json_decode
from tornado.web import Application
from tornado.websocket import WebSocketHandler

rooms: dict[str, set["ChatHandler"]] = {}
user_ids = itertools.count(1)
message_ids = itertools.count(1)


class ChatHandler(WebSocketHandler):
    def open(self) -> None:
        self.user = None
        self.rooms: set[str] = set()

    def answer(self, req: dict, frame: dict) -> None:
        if "cid" in req:
            frame["cid"] = req["cid"]
        self.write_message(frame)

    def on_message(self, message: str | bytes) -> None:
        req = json_decode(message)
        kind = req.get("type")
        if self.user is None and kind != "identify":
            self.answer(req, {"type": "error", "code": "not_identified", "message": "identify first"})
        elif kind == "identify":
            self.user = {"id": next(user_ids), "name": req["name"]}
            self.answer(req, {"type": "welcome", "session": str(self.user["id"]), "user": self.user, "token": "",
                              "messages": [], "more": False})
        elif kind == "create":
            self.answer(req, {"type": "created", "room": {"name": req["room"], "topic": ""}})
        elif kind == "join":
            room = req["room"]
            members = rooms.setdefault(room, set())
            if self not in members:
                self.presence(room, "join")
                members.add(self)
                self.rooms.add(room)
            self.answer(req, {"type": "joined", "room": room, "topic": "", "members": [m.user for m in members],
                              "messages": [], "more": False})
        elif kind == "say":
            self.say(req)
        else:
            self.answer(req, {"type": "error", "code": "unknown_type", "message": str(kind)})

    def say(self, req: dict) -> None:
        room = req["room"]
        if room not in self.rooms:
            self.answer(req, {"type": "error", "code": "not_in_room", "message": "join first"})
            return
        message_id, ts = next(message_ids), int(time.time() * 1000)
        self.answer(req, {"type": "ack", "id": message_id, "ts": ts})
        message = {"type": "message", "id": message_id, "room": room, "from": self.user, "text": req["text"], "ts": ts}
        for member in rooms[room]:
            member.write_message(message)  # the naive part: encode + frame + schedule, per recipient

    def presence(self, room: str, event: str) -> None:
        frame = {"type": "presence", "room": room, "event": event, "user": self.user}
        for member in rooms[room]:
            if member is not self:
                member.write_message(frame)

    def on_close(self) -> None:
        for room in self.rooms:
            rooms[room].discard(self)
            self.presence(room, "leave")


async def main() -> None:
    app = Application([(r"/ws", ChatHandler)], websocket_max_message_size=65536)
    app.listen(int(sys.argv[1]), "127.0.0.1")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
