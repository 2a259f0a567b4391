"""The chunked transfer coding's framing lines as RFC 9112 §7.1 has them, where
Tornado's parser falls short: a chunk's size line may carry extensions
(``5;name=value``), the last chunk may be followed by trailer fields, and a
line ended by a bare LF is refused at once (Tornado waited for the CRLF that
never comes, and the client for its answer, until the body timeout).

``chatd.web.headlimit.HeadLimitStream`` hands Tornado's reads of these lines to
the functions here:

    size_line(b"1a;name=value\\r\\n")   # → b"1a\\r\\n": what Tornado's parser reads
    size_line(b"1a\\n")                 # HTTPInputError: a bare LF
    await trailer_section(stream)      # → b"\\r\\n" once the trailer section is read (its fields dropped)
"""

from __future__ import annotations

from tornado.httputil import HTTPHeaders, HTTPInputError
from tornado.iostream import IOStream

CHUNK_LINE_MAX = 64  # bytes: Tornado's bound on a chunk's size line (HTTP1Connection._read_chunked_body)
TRAILER_MAX = 16384  # bytes of trailer fields read at most, then the request is refused
CRLF = b"\r\n"
_BWS = b" \t"  # "bad" whitespace, allowed before an extension's ";" (RFC 9112 §7.1.1)


def size_line(line: bytes) -> bytes:
    """A chunk's size line as read up to its LF (``b"<hex>[;extensions]\\r\\n"``) → the
    size alone and its CRLF; the extensions are dropped, as RFC 9112 §7.1.1 lets a
    recipient do with those it does not understand.
    Raises ``HTTPInputError`` if the line ends in a bare LF."""
    if not line.endswith(CRLF):
        raise HTTPInputError("a chunk's size line ends in a bare LF, not CRLF (RFC 9112 §7.1)")
    size, _, _ = line[:-2].partition(b";")
    return size.rstrip(_BWS) + CRLF


def is_last_chunk(line: bytes) -> bool:
    """Whether a size line (``size_line``'s) is the last chunk's: size 0."""
    return line.rstrip(CRLF).strip(b"0") == b""


async def trailer_section(stream: IOStream) -> bytes:
    """Read the trailer section that follows the last chunk, up to its empty line, and drop
    its fields (RFC 9112 §7.1.2: a recipient may discard them); → ``CRLF``, which is what
    Tornado's parser reads there. Raises ``HTTPInputError`` if a line ends in a bare LF or
    is not a well-formed field (no colon, folded, a bad name, a control character); a
    section over ``TRAILER_MAX`` bytes closes the stream (``UnsatisfiableReadError``)."""
    budget = TRAILER_MAX
    while True:
        line = await stream.read_until(b"\n", max_bytes=budget)
        if not line.endswith(CRLF):
            raise HTTPInputError("a trailer line of a chunked body ends in a bare LF, not CRLF (RFC 9112 §7.1.2)")
        if line == CRLF:
            return line
        try:  # checked as a head's field is, and dropped (one of the head would be refused)
            HTTPHeaders().parse_line(line[:-2].decode("latin-1"))
        except HTTPInputError as e:
            raise HTTPInputError(f"a trailer field of a chunked body is malformed: {e}") from None
        budget -= len(line)
