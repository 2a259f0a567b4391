"""Protocol v1: client frames in, server frames out, and their codes. Pure: no I/O.
docs/protocol.md is the contract this package implements, one job a module:

- ``codes``: the error and close codes, ``ProtocolError`` (a request refused with one), and the
  bounds and closed sets of values frames carry; a leaf, it imports nothing of chatd.
- ``roomnames``: the rules a room name keeps.
- ``fields``: the kinds of field values a client sends, and each request type's fields (``SCHEMAS``).
- ``requests``: ``parse``, the text of one client frame into a ``Request`` (or a ``ProtocolError``).
- ``frames``: the frames the server sends, and ``encode``, their wire bytes, made once however many
  recipients get them.
"""
