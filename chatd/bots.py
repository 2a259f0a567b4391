"""Bots: users whose messages chatd hands to a webhook, and whose webhook may answer.

A bot is a chatd user (``chatd.store.bots``) with a webhook URL, a secret that
signs the calls (``chatd.webhooks``) and the rooms it is in. When a message
is stored that mentions it (``@name``) in one of its rooms, or is a private
message to it, chatd POSTs the message to the webhook (docs/api.md, "Bots");
a JSON answer ``{"text": "..."}`` is posted as the bot's reply, in the same
room or as a private message back, through ``Chat.post`` like any message.
The bot may also answer later through ``POST /api/v1/messages`` with its own
API key.

**Mentions** are word-bounded and ignore case as chatd compares names: ``@Helper,``
and ``(@HELPER)`` call ``helper``; ``@helpers``, ``a@helper`` and ``@@helper`` do not.

**One call per message.** Only the node that stored a message calls
(``Chat.post``'s caller: ``stored`` is called there, never for what the bus
brings from other nodes), and a message sent again with the same ``cid`` is
not stored twice, so not called twice.

**No loops.** A message whose sender is a bot calls no webhook, its own or
another bot's: a bot's reply can never set off another reply. A bot's reply
carries ``cid`` ``re:<message id>``, so a webhook answering twice (a retry
after a timeout that reached it) still posts one reply.

**Never slows the chat.** ``stored`` only queues a call (``Webhooks.send``,
bounded; dropped when full) and costs a dict look-up per message when the
room has no bot; the call and the reply happen later on the loop.

The bots are kept in memory on each node, read from the store at start and
after each change; a change made on one node is told to the others with a
``bots`` Notice (``chatd.cluster.node``), and a node that may have missed
notices (``lost``) rereads them.

**A bot's name** is nobody else's, nor one like it (``chatd.names.name_keys``): every
node holds the bots' names against guests (``Hub.reserved``), from the check of a new
name on (``_naming``); the store checks it again against the other bots under a lock
(``chatd.store.bots``). On a cluster with Redis the other nodes hold it only from the
``bots`` notice on, after the write: so the name is first claimed on Redis as the
guests' names are (``Identity.claim_name``, ``chatd.cluster.names``), and a guest
identifying meanwhile on another node, or one holding a look-alike there, is refused
(or the bot is). While Redis is out that claim is skipped, as for guests: each node's
own checks stand.

    bots = Bots(hub, store, webhooks, chat.post, lambda: config, clock, cluster.name_holder, identity.claim_name)
    bots.load()                          # at start-up (blocks)
    bots.stored(draft, row)              # Chat.post, after the publish
    bot, secret, api_key = await bots.create("helper", "https://bots.example/hook", ["lobby"])
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chatd.auth.apikeys import new_key
from chatd.client_refusals import no_such_user
from chatd.egress import url_problem
from chatd.hub import NAMING, Holder, Hub
from chatd.names import BadName, Problem, clean_name, name_keys, name_taken, name_taken_fields
from chatd.protocol.codes import Code, ProtocolError
from chatd.protocol.frames import message_frame
from chatd.store import Draft, MessageRow, Store, Stored
from chatd.store.bots import BotRow, NameClash
from chatd.strictjson import Refused, ill_formed, loads
from chatd.webhooks import Throttled, Webhooks

log = logging.getLogger("chatd.bots")

# Seconds a bot's name claimed on Redis before its write stays claimed there (for NAMING, the id of
# every bot being named: two bots named alike at once both get the claim, and the store's lock
# refuses one). The other nodes hold the name themselves from the ``bots`` notice on, which follows
# the write by milliseconds; a minute also covers a write slowed down by a busy database. A name
# refused by the store, or not written, is kept from guests that long at most. Not kept while the
# bot exists: each node reads the bots at start-up once it hears the bus (chatd.server: none
# written meanwhile is missed), at each notice, and again when the bus may have lost one (``lost``).
NAMING_CLAIM_SECONDS = 60.0
# The rule of names only a bot's breaks (``bad_name``'s ``rule``; docs/protocol.md, "error"): a space or an @.
ONE_WORD = "one_word"

EVENT = "bot.message"  # the Chatd-Event of a call to a bot
SECRET_BYTES = 32  # the signing secret: 256 random bits, as hex
REPLY_CID = "re:{}"  # the cid of a bot's reply to message {id}

Post = Callable[[Draft, Callable[[Stored | None, BaseException | None], None]], None]


def mention_pattern(name: str) -> re.Pattern[str]:
    """What a mention of ``name`` looks like in a case-folded text: ``@`` + the
    folded name, neither preceded by a word character or ``@`` nor followed by a word character."""
    return re.compile(r"(?<![\w@])@" + re.escape(name.casefold()) + r"(?!\w)")


def bot_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a bot's (``clean_name``'s rules, and ONE_WORD: it must be
    mentionable as one word), or None; for a string, its ``Problem`` (words and fields)."""
    if not isinstance(name, str):
        return "the name must be a string"
    try:
        clean = clean_name(name)
    except BadName as e:
        return e.args[0]
    if " " in clean or "@" in clean:
        return Problem("a bot's name has no spaces and no @: it is mentioned as @name", ONE_WORD)
    return None


@dataclass(frozen=True, slots=True)
class Bot:
    user_id: int
    name: str
    url: str
    secret: bytes
    room_ids: frozenset[int]
    pattern: re.Pattern[str]

    @staticmethod
    def of(row: BotRow) -> Bot:
        # The secret's hex text itself is the HMAC key (docs/api.md): what a PHP receiver has at hand.
        return Bot(row.user_id, row.name, row.webhook_url, row.secret.encode(), frozenset(row.room_ids),
                   mention_pattern(row.name))


class Bots:
    def __init__(self, hub: Hub, store: Store, webhooks: Webhooks, post: Post, config: Callable[[], Any],
                 clock: Callable[[], float], name_holder: Callable[..., Holder | None],
                 claim_name: Callable[[int, str, float], Awaitable[None]]):
        """``post``: ``Chat.post``; ``config``: → the Config in effect; ``clock``: seconds, as
        the hub's names are held; ``name_holder``: who has a name on any node (``Cluster.name_holder``);
        ``claim_name(user id, name, seconds)``: claims it on Redis, or raises ProtocolError
        ``name_taken`` (``Identity.claim_name``: nothing without Redis)."""
        self.hub = hub
        self.store = store
        self.webhooks = webhooks
        self._post = post
        self._config = config
        self._clock = clock
        self._name_holder = name_holder
        self._claim_name = claim_name
        self.changed: Callable[[], None] = lambda: None  # tells the other nodes (set by Chat: chatd.cluster)
        self._by_id: dict[int, Bot] = {}
        self._naming: list[str] = []  # names of bots being written: reserved from the check on (_reserve)
        self._in_room: dict[int, list[Bot]] = {}
        self._warn = Throttled(log)

    # Who the bots are

    def load(self) -> None:
        """Read the bots from the store (at start-up: this blocks)."""
        self._install(self.store.bots.load())

    async def reload(self) -> None:
        """Read the bots again (another node changed them, or may have)."""
        self._install(await self.store.bots.all())

    def _install(self, rows: Iterable[BotRow]) -> None:
        bots = [Bot.of(row) for row in rows]
        self._by_id = {bot.user_id: bot for bot in bots}
        in_room: dict[int, list[Bot]] = {}
        for bot in bots:
            for room_id in bot.room_ids:
                in_room.setdefault(room_id, []).append(bot)
        self._in_room = in_room
        self._reserve()

    def _reserve(self) -> None:
        """Nobody else may go by a bot's name, or one like it: it would pass for the bot. Nor by
        the name of one being written (``_naming``): a guest identifying meanwhile took it."""
        reserved = {key: Holder(NAMING, name) for name in self._naming for key in name_keys(name)}
        self.hub.reserved = reserved | {key: Holder(bot.user_id, bot.name) for bot in self._by_id.values()
                                        for key in name_keys(bot.name)}

    @contextlib.asynccontextmanager
    async def _named(self, name: str | None) -> AsyncIterator[None]:
        """``name`` (None: no name) reserved while a bot is written with it: here at once, then
        claimed on Redis (see the module); ProtocolError ``name_taken`` if the claim is refused."""
        if name is None:
            yield
            return
        self._naming.append(name)
        self._reserve()
        try:
            await self._claim_name(NAMING, name, NAMING_CLAIM_SECONDS)
            yield
        finally:
            self._naming.remove(name)
            self._reserve()

    def get(self, user_id: int) -> Bot | None:
        return self._by_id.get(user_id)

    def all(self) -> list[Bot]:
        return sorted(self._by_id.values(), key=lambda bot: bot.user_id)

    # Messages

    def stored(self, draft: Draft, row: MessageRow) -> None:
        """A message was stored by this node (``Chat.post``): call the webhook of
        each bot it is for. On the path of every message: a look-up or two."""
        by_id = self._by_id
        if not by_id or row.sender_id in by_id:
            return  # no bots; or a bot's own message, which never calls a bot (no loops)
        if row.recipient_id is not None:
            bot = by_id.get(row.recipient_id)
            if bot is not None:
                self._call(bot, draft, row)
            return
        bots = self._in_room.get(draft.room_id)
        if bots and "@" in row.text:
            folded = row.text.casefold()
            for bot in bots:
                if bot.pattern.search(folded):
                    self._call(bot, draft, row)

    def _call(self, bot: Bot, draft: Draft, row: MessageRow) -> None:
        payload = {"event": EVENT, "bot": {"id": bot.user_id, "name": bot.name}, "message": message_frame(row)}
        self.webhooks.send(bot.url, bot.secret, EVENT, payload, lambda body: self._answered(bot, draft, row, body))

    def _answered(self, bot: Bot, draft: Draft, row: MessageRow, body: bytes) -> None:
        """The webhook answered ``body``: post its ``text``, if any, as the bot's reply."""
        text = reply_text(body)
        if isinstance(text, ProtocolError):
            return self._warn.warning(f"answer {bot.user_id}", f"bot {bot.name!r} answered message {row.id} with "
                                                                f"something that is not a reply: {text}")
        if text is None:
            return
        reply = Draft(bot.user_id, bot.name, text, REPLY_CID.format(row.id), source="bot")
        if row.recipient_id is None:
            reply.room_id = draft.room_id
        else:
            reply.recipient_id = row.sender_id

        def posted(result: Stored | None, error: BaseException | None) -> None:
            if error is not None:
                self._warn.warning(f"reply {bot.user_id}", f"the reply of bot {bot.name!r} to message {row.id} "
                                                           f"could not be stored: {error!r}")

        try:
            self._post(reply, posted)
        except ProtocolError as e:  # too long, empty, the room removed meanwhile
            self._warn.warning(f"reply {bot.user_id}", f"the reply of bot {bot.name!r} to message {row.id} was "
                                                       f"refused: {e.message}")

    # Management (the HTTP API: chatd.api.bots)

    async def create(self, name: object, webhook_url: object, rooms: object) -> tuple[Bot, str, str]:
        """A new bot; → (the bot, its signing secret as hex, its API key: both shown once).
        ProtocolError (``bad_name``, ``name_taken``, ``bad_frame``, ``no_such_room``) if refused."""
        name = self._free_name(name, None)
        _check_url(webhook_url)
        room_ids = self._room_ids(rooms)
        secret = secrets.token_hex(SECRET_BYTES)
        key, public_id, digest = new_key()
        async with self._named(name):
            try:
                user_id = await self.store.bots.create(name, webhook_url, secret, room_ids, (public_id, digest))
            except NameClash as e:  # another bot was given a name like it meanwhile
                raise _taken(name, e) from None
            await self._changed()
        return self._by_id[user_id], secret, key

    async def update(self, user_id: int, *, name: object = None, webhook_url: object = None, rooms: object = None,
                     new_secret: bool = False) -> tuple[Bot, str | None]:
        """Change a bot: what is not None; ``new_secret``: a new signing secret.
        → (the bot, the new secret or None). ProtocolError as ``create``, or
        ``no_such_user`` if there is no such bot."""
        if user_id not in self._by_id:
            raise no_such_user(user_id, what="bot")
        name = None if name is None else self._free_name(name, user_id)
        if webhook_url is not None:
            _check_url(webhook_url)
        room_ids = None if rooms is None else self._room_ids(rooms)
        secret = secrets.token_hex(SECRET_BYTES) if new_secret else None
        async with self._named(name):
            try:
                updated = await self.store.bots.update(user_id, name=name, webhook_url=webhook_url, secret=secret,
                                                       room_ids=room_ids)
            except NameClash as e:
                raise _taken(name, e) from None
            if not updated:
                raise no_such_user(user_id, what="bot")
            await self._changed()
        return self._by_id[user_id], secret

    async def delete(self, user_id: int) -> None:
        """The user is no longer a bot (its messages stay); ProtocolError ``no_such_user`` if it was none."""
        if not await self.store.bots.delete(user_id):
            raise no_such_user(user_id, what="bot")
        await self._changed()

    async def _changed(self) -> None:
        await self.reload()
        self.changed()

    def _free_name(self, name: object, user_id: int | None) -> str:
        problem = bot_name_problem(name)
        if problem:
            fields = problem.fields if isinstance(problem, Problem) else None  # none for a name that is no string
            raise ProtocolError(Code.BAD_NAME, problem, details=fields)
        name = clean_name(name)
        now, hold = self._clock(), self._config().identity.name_hold_seconds
        holder = self._name_holder(name, user_id, now, hold)
        if holder is not None:
            said = (name, holder.name, holder.left_at, now, hold)
            raise ProtocolError(Code.NAME_TAKEN, name_taken(*said), details=name_taken_fields(*said))
        return name

    def _room_ids(self, rooms: object) -> list[int]:
        if not isinstance(rooms, list) or not all(isinstance(r, str) for r in rooms):
            raise ProtocolError(Code.BAD_FRAME, "rooms must be a list of room names")
        ids = []
        for name in rooms:
            room = self.hub.room(name)
            if room is None:
                raise ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {name!r}", details={"room": name})
            ids.append(room.id)
        return ids


def _taken(name: str, clash: NameClash) -> ProtocolError:
    said = (name, clash.args[0], None, 0, 0)
    return ProtocolError(Code.NAME_TAKEN, name_taken(*said), details=name_taken_fields(*said))


def _check_url(url: object) -> None:
    problem = url_problem(url)
    if problem:
        raise ProtocolError(Code.BAD_FRAME, f"webhook_url {problem}")


def reply_text(body: bytes) -> str | None | ProtocolError:
    """The reply in a webhook's answer: its ``text``; None for an empty answer or one
    without ``text`` (the bot says nothing, or answers later); a ProtocolError (not
    raised) saying what is wrong with an answer that is not JSON or whose text is no string."""
    if not body.strip():
        return None
    try:
        answer = loads(body.decode("utf-8"))
    except (UnicodeDecodeError, Refused) as e:
        return ProtocolError(Code.BAD_JSON, f"the answer is not JSON: {e}")
    if not isinstance(answer, dict) or answer.get("text") is None:
        return None
    text = answer["text"]
    problem = ill_formed(text) if isinstance(text, str) else "'text' is not a string"
    return ProtocolError(Code.BAD_FRAME, problem) if problem else text
