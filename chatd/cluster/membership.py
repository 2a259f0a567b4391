"""What every node of a cluster must have alike, and how a node that differs is told apart
(docs/operations.md, "A cluster, step by step"; "What must match").

Nodes share one database and one bus. A node started on the bus with another database (another
epoch) would not fail: its users would show online in the cluster under ids that mean other users
there. A node with another token secret would sign tokens the others refuse. So the bus keeps a
**record** of what must match (chatd.bus.redis): the first node to start sets it; a node that
starts checks it and refuses to start when it differs (``ClusterMismatch``, exit status 78); every
node checks it again while it runs (an error in the log) and renews it. It expires ``RECORD_TTL``
seconds after the last node that matched it stopped renewing it, so a cluster stopped and started
again on a restored database (a new epoch) waits at most that long, and a Redis restarted without
its data gets the record back from the next node that renews it.

The record holds no secret: the token secret is there as an HMAC of a fixed label keyed by it
(``fingerprint``), which tells two secrets apart and nothing of either.

    mine = Membership(epoch="aa", secret=fingerprint(secret), database="/var/lib/chatd/chatd.db")
    mine.record()                  # → bytes: what the bus stores
    mine.differences(theirs)       # → ["the database: epoch 'aa' (…) here, 'bb' (…) in the cluster"], [] if alike
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass

# Seconds the record outlives the last node that renews it (each renews it every chatd.bus.redis.PROBE_SECONDS).
RECORD_TTL = 15
FINGERPRINT_LABEL = b"chatd cluster membership: token secret"  # fixed: every node keys the same label
FINGERPRINT_HEX = 16  # 64 bits: two secrets never share one by chance
ADVICE = 'every node of a cluster needs the same database and token secret (docs/operations.md, "What must match")'


class ClusterMismatch(Exception):
    """This node differs from the cluster on its bus in what must match: it must not join it."""


def fingerprint(secret: bytes) -> str:
    """The token secret as the record holds it: HMAC-SHA256 of FINGERPRINT_LABEL keyed by it, cut short."""
    return hmac.new(secret, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]


@dataclass(frozen=True)
class Membership:
    epoch: str  # the database's epoch (chatd.epoch)
    secret: str  # fingerprint(token secret)
    database: str  # where the database is, without its password (for the message only: not compared)

    def record(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    def differences(self, record: bytes | None) -> list[str]:
        """What differs between this node and the cluster's ``record`` (None, unreadable or
        from a node of another version that records less: nothing known differs), in words."""
        try:
            theirs = json.loads(record) if record is not None else {}
        except ValueError:
            return []
        if not isinstance(theirs, dict):
            return []
        found = []
        if theirs.get("epoch", self.epoch) != self.epoch:
            found.append(f"the database: epoch {self.epoch} ({self.database}) here, epoch {theirs['epoch']} "
                         f"({theirs.get('database', 'unknown')}) in the cluster")
        if theirs.get("secret", self.secret) != self.secret:
            found.append(f"the token secret (identity.secret, identity.secret_file or the database's): "
                         f"fingerprint {self.secret} here, {theirs['secret']} in the cluster")
        return found


def mismatch(where: str, differences: list[str]) -> str:
    """The one line that says a node differs from the cluster on the bus at ``where``."""
    return f"this node differs from the cluster on the bus at {where} in {'; and in '.join(differences)}: {ADVICE}"
