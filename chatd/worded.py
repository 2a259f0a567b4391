"""Words for a person, with the same in data: a refusal's English sentence (the string)
and its detail as ``fields``, so that a client words it in its own language with nothing
left out (docs/protocol.md, "error": the fields some refusals carry). A leaf: it imports
nothing of chatd.

    why = Worded("token has expired", cause="expired")
    raise ProtocolError(Code.BAD_TOKEN, why, details=why.fields)
"""

from __future__ import annotations

from typing import Any


class Worded(str):
    """The English words (the string itself) and ``fields``, the same in data."""

    fields: dict[str, Any]

    def __new__(cls, words: str, **fields: Any) -> Worded:
        worded = super().__new__(cls, words)
        worded.fields = fields
        return worded
