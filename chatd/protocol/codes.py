"""The codes and bounds of protocol v1 (docs/protocol.md, "error" and "Close codes"): ``Code``, the
stable codes of ``error`` frames; ``CloseCode``, the WebSocket close codes; ``ProtocolError``, a
request refused with a ``Code``; and the limits and closed sets of values frames carry (lengths,
ids, reactions, which limit a ``rate_limited`` names, who kicked). A leaf: it imports nothing of
chatd, so that every module may import it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

VERSION = 1
ROOM_MAX = 32
TOPIC_MAX = 200
CID_MAX = 64
EPOCH_MAX = 64
MAX_ID = 2**63 - 1
ERROR_MESSAGE_MAX = 300  # characters of an error frame's message: a reply stays small
# The message of an `unavailable` answer to a request that met a database failure (docs/protocol.md, "Errors").
DATABASE_UNREACHABLE = "the database is unreachable; try again shortly"
# Moderation requests (docs/protocol.md, "Moderation"): a reason's characters (the API's kick
# reason has the same bound), and the longest timed mute or ban (longer: leave ``seconds`` out).
REASON_MAX = 200
SANCTION_SECONDS_MAX = 10 * 366 * 86400
# A say's attachments (docs/protocol.md, "Messages"): at most this many upload ids, each as
# chatd.store.uploads makes them (128 bits, URL-safe base64); served under FILES_PATH.
ATTACHMENTS_MAX = 10
ATTACHMENTS_TOO_MANY = "too_many"  # the ``cause`` of a ``bad_attachment`` past ATTACHMENTS_MAX (chatd.client_refusals)
UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{22}")
FILES_PATH = "/files/"
# Reactions (chatd.changes): distinct emoji on one message, and emoji one user gives one message.
REACTIONS_PER_MESSAGE = 20
REACTIONS_PER_USER = 10
# Users a message frame names per emoji of its reactions (the first who gave it), and across all
# its emoji (each emoji's first ones, evenly).
REACTORS_SHOWN = 20
REACTORS_LISTED = 40
EMOJI_MAX_CHARS = 16  # code points of the longest RGI emoji (a family of four with joiners is 11)
# Which limit a ``rate_limited`` error names in its ``limit`` field (docs/protocol.md, "error"); the
# address's (``address``, ``new_users``, ``new_rooms``) are ``chatd.abuse.LIMITS``'.
LIMIT_CONNECTION, LIMIT_USER, LIMIT_SEARCHES, LIMIT_UPLOADS = "connection", "user", "searches", "uploads"
# Who ended a user's sessions, as a ``kicked`` frame's ``cause`` says (a client words it itself).
KICK_MODERATOR, KICK_APP, KICK_DELETED = "moderator", "app", "account_deleted"
KICK_CAUSES = (KICK_MODERATOR, KICK_APP, KICK_DELETED)


class Code(StrEnum):
    """Error codes of ``error`` frames; stable, clients switch on them."""

    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    NOT_IDENTIFIED = "not_identified"
    ALREADY_IDENTIFIED = "already_identified"
    BAD_NAME = "bad_name"
    NAME_TAKEN = "name_taken"
    BAD_TOKEN = "bad_token"
    # App tokens (chatd.auth.apptokens): which check refused the web app's JWT.
    TOKEN_EXPIRED = "token_expired"
    BAD_SIGNATURE = "bad_signature"
    MISSING_CLAIM = "missing_claim"
    BAD_CLAIM = "bad_claim"
    BAD_APP_TOKEN = "bad_app_token"
    GUESTS_OFF = "guests_off"
    BAD_ROOM = "bad_room"
    NO_SUCH_ROOM = "no_such_room"
    ROOM_EXISTS = "room_exists"
    TOO_MANY_ROOMS = "too_many_rooms"
    FORBIDDEN = "forbidden"
    ROOM_ARCHIVED = "room_archived"  # say in an archived (read-only) room
    MODERATORS_ONLY = "moderators_only"  # say in an announcement room by a user who is no moderator
    NAME_RESERVED = "name_reserved"  # a user or room name the operator reserved (chatd.reserved)
    NOT_IN_ROOM = "not_in_room"
    NO_SUCH_USER = "no_such_user"
    # A deleted user (chatd.usercare): the one a request acts as (its deletion raced the request),
    # and the one a private message is to.
    USER_DELETED = "user_deleted"
    RECIPIENT_DELETED = "recipient_deleted"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    RATE_LIMITED = "rate_limited"
    # Moderation (chatd.moderation): a say by a muted user (with retry_ms when the mute ends by
    # itself); an identify by a banned user.
    MUTED = "muted"
    BANNED = "banned"
    # Uploads (chatd.web.uploads, and say's attachments): a say's upload that is not the sender's own
    # unattached one; a file over uploads.max_bytes, of a kind not in uploads.types, an image that does
    # not decode or is over uploads.max_pixels, and a user over uploads.quota_bytes.
    BAD_ATTACHMENT = "bad_attachment"
    FILE_TOO_LARGE = "file_too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    BAD_IMAGE = "bad_image"
    IMAGE_TOO_LARGE = "image_too_large"
    QUOTA_EXCEEDED = "quota_exceeded"
    NO_SUCH_MESSAGE = "no_such_message"  # an id no message the user may read has (delete, edit, react, reply_to)
    # Changes to messages (chatd.changes): an edit or own delete after messages.edit_window_seconds;
    # an edit of, or reaction to, a deleted message; a reaction past a message's caps.
    EDIT_WINDOW_PASSED = "edit_window_passed"
    MESSAGE_DELETED = "message_deleted"
    TOO_MANY_REACTIONS = "too_many_reactions"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CloseCode:
    """WebSocket close codes (RFC 6455 §7.4.1, and 1012-1014 from the IANA
    registry). Which of them may appear in a close frame is a framing rule:
    ``chatd.wsframe.close_code_allowed``."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server stopping
    PROTOCOL_ERROR = 1002  # broken WebSocket framing, or a close frame that breaks the rules
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004  # reserved, meaning still undefined: never in a close frame
    NO_STATUS = 1005  # what a close frame without a code reports: never in a close frame
    ABNORMAL = 1006  # what a connection lost without a close frame reports: never in a close frame
    INVALID_DATA = 1007  # a text frame or a close reason that is not UTF-8
    POLICY_VIOLATION = 1008  # kept flooding
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011  # a bug in chatd met while reading this connection
    SERVICE_RESTART = 1012  # chatd restart
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # what a failed TLS handshake reports: never in a close frame
    APPLICATION_FIRST = 3000  # 3000-3999 registered by libraries and applications, 4000-4999 private use
    APPLICATION_LAST = 4999
    # The connection's sign-in was signed out (docs/protocol.md, "Signing out"); 4000-4999 are for
    # applications, and 4401 echoes HTTP's 401 as other WebSocket protocols do (graphql-ws).
    SIGNED_OUT = 4401
    # Kicked by the web app (HTTP API disconnect) or a moderator: the page shows the reason and does not
    # reconnect by itself (docs/protocol.md, "Kicked"); 4410 echoes HTTP's 410 Gone.
    KICKED = 4410
    # Banned (docs/protocol.md, "Banned"): after the ``banned`` frame; the page shows the reason
    # and until when, and does not reconnect by itself. 4403 echoes HTTP's 403 Forbidden.
    BANNED = 4403


class ProtocolError(Exception):
    """A request that is refused; becomes an ``error`` frame. ``retry_after``:
    seconds until the same request may be let through (``rate_limited``). ``details``: the
    frame's fields that say in data what the message says in English (the room and reason
    of a ``muted``, ...: docs/protocol.md, "error"), so that a client words it in its language."""

    def __init__(self, code: Code, message: str, cid: str | None = None, retry_after: float | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.cid = cid
        self.retry_after = retry_after
        self.details = details
