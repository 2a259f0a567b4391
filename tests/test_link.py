"""The supervisor–worker link (chatd.link): objects both ways in order, and
the end of the other side — closed, or dead in the middle of a line — read
as None."""

from __future__ import annotations

import socket

from chatd.link import Link


async def test_objects_travel_both_ways_in_order_and_the_end_is_none():
    a, b = socket.socketpair()
    left, right = await Link.open(a), await Link.open(b)
    for i in range(3):
        left.send({"id": i, "command": "status"})
    right.send({"id": 0, "ok": True, "text": "é\n"})  # a newline inside a string stays inside the object
    assert [await right.receive() for _ in range(3)] == [{"id": i, "command": "status"} for i in range(3)]
    assert await left.receive() == {"id": 0, "ok": True, "text": "é\n"}
    await left.close()
    assert await right.receive() is None
    right.send({"dropped": True})  # to an end that is gone: nowhere, and no error
    await right.close()


async def test_a_line_cut_off_by_the_end_is_the_end():
    a, b = socket.socketpair()
    link = await Link.open(b)
    a.sendall(b'{"id": 1, "ok": tr')  # the other side died while writing
    a.close()
    assert await link.receive() is None
    await link.close()
