"""The admin API's answer to a refusal of the chat core (``chatd.protocol.codes.Code``): the
same stable code, with the HTTP status the HTTP API gives it (``chatd.api.base.STATUS``)."""

from __future__ import annotations

from chatd.admin.base import AdminError
from chatd.protocol.codes import Code, ProtocolError

# Codes the admin actions refuse with → HTTP status; the rest are the request's fault (400).
STATUS = {Code.NO_SUCH_ROOM: 404, Code.NO_SUCH_USER: 404, Code.NO_SUCH_MESSAGE: 404, Code.ROOM_EXISTS: 409,
          Code.TOO_MANY_ROOMS: 409, Code.NAME_RESERVED: 409, Code.FORBIDDEN: 403, Code.UNAVAILABLE: 503,
          Code.RECIPIENT_DELETED: 410}


def refused(error: ProtocolError) -> AdminError:
    """``error`` as the admin API answers it, with its fields; ``bad_frame`` is the API's ``bad_request``."""
    return AdminError.of(STATUS.get(error.code, 400), error, "bad_request" if error.code == Code.BAD_FRAME else None)
