"""Queue allocation strategies (pure functions, REFERENCE §7.11).

Each takes this consumer's id, every queue and every consumer id of the group (both already
sorted by the caller, as Java sorts them) and returns the queues this consumer owns.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Sequence

from rmq.client.model import MessageQueue

AllocateStrategy = Callable[[str, Sequence[MessageQueue], Sequence[str]], list[MessageQueue]]


def allocate_averagely(
    cid: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> list[MessageQueue]:
    """AllocateMessageQueueAveragely: contiguous blocks, the first ``N % C`` get one more."""
    if cid not in cid_all or not mq_all:
        return []
    n, c, i = len(mq_all), len(cid_all), cid_all.index(cid)
    mod = n % c
    if n <= c:
        size = 1
    elif mod > 0 and i < mod:
        size = n // c + 1
    else:
        size = n // c
    start = i * size if mod > 0 and i < mod else i * size + mod
    rng = min(size, n - start)
    return [mq_all[(start + k) % n] for k in range(rng)]


def allocate_by_circle(
    cid: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
) -> list[MessageQueue]:
    """AllocateMessageQueueAveragelyByCircle: queue ``k`` goes to consumer ``k % C``."""
    if cid not in cid_all:
        return []
    c, i = len(cid_all), cid_all.index(cid)
    return [mq_all[k] for k in range(i, len(mq_all)) if k % c == i]


def md5_hash(key: str) -> int:
    """First four MD5 bytes as an unsigned big-endian number (Java's MD5HashFunction)."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest()[:4], "big")


class ConsistentHashRing:
    """A ring of ``virtual_nodes`` points per client id (key ``<cid>-<n>``)."""

    def __init__(self, cids: Sequence[str], virtual_nodes: int = 10) -> None:
        ring: dict[int, str] = {}
        for cid in cids:
            for n in range(virtual_nodes):
                ring[md5_hash(f"{cid}-{n}")] = cid
        self._keys = sorted(ring)
        self._nodes = [ring[k] for k in self._keys]

    def route(self, key: str) -> str | None:
        """The client owning ``key``: the first node clockwise from its hash (inclusive)."""
        if not self._keys:
            return None
        pos = bisect.bisect_left(self._keys, md5_hash(key))
        return self._nodes[pos % len(self._nodes)]


def consistent_hash(virtual_nodes: int = 10) -> AllocateStrategy:
    """AllocateMessageQueueConsistentHash with ``virtual_nodes`` per consumer."""

    def allocate(
        cid: str, mq_all: Sequence[MessageQueue], cid_all: Sequence[str]
    ) -> list[MessageQueue]:
        if cid not in cid_all:
            return []
        ring = ConsistentHashRing(cid_all, virtual_nodes)
        return [mq for mq in mq_all if ring.route(str(mq)) == cid]

    return allocate


allocate_consistent_hash = consistent_hash()
