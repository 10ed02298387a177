"""Broker-side queue locks for orderly consumption (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ).

Table: group -> {queue -> (client id, last renewal)} (REFERENCE §7.12). A lock lives 60 s
after its last renewal (``rocketmq.broker.rebalance.lockMaxLiveTime``); a queue held by a live
lock goes to nobody else, its holder renews it by locking again, and an expired lock is taken
over by the next client asking. Pure: ``now`` (seconds, e.g. ``reactor.seconds()``) is passed
in, so tests drive it directly.

The broker controller creates one ``RebalanceLockManager`` as ``broker.locks``; the
processors in ``rmq.broker.processor.orderly`` use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import attrs

from rmq.common.errors import BodyError

__all__ = ["LOCK_MAX_LIVE_TIME", "LockEntry", "MessageQueue", "RebalanceLockManager"]

LOCK_MAX_LIVE_TIME: Final = 60.0
"""Seconds a lock survives without renewal (Java default 60000 ms)."""


@attrs.frozen(slots=True, order=True)
class MessageQueue:
    """A queue as clients name it: topic, broker name, queue id (hashable)."""

    topic: str
    broker_name: str
    queue_id: int

    def to_json(self) -> dict[str, Any]:
        """The MessageQueue JSON object (fastjson field order)."""
        return {"brokerName": self.broker_name, "queueId": self.queue_id, "topic": self.topic}

    @classmethod
    def from_json(cls, obj: Any) -> MessageQueue:
        """Read ``{"brokerName","queueId","topic"}``; raises BodyError when malformed."""
        if not isinstance(obj, dict):
            raise BodyError("MessageQueue must be a JSON object")
        topic, broker, qid = obj.get("topic"), obj.get("brokerName"), obj.get("queueId")
        if isinstance(qid, str) and qid.lstrip("-").isdigit():
            qid = int(qid)
        if not isinstance(topic, str) or not isinstance(broker, str):
            raise BodyError("MessageQueue needs string topic and brokerName")
        if not isinstance(qid, int) or isinstance(qid, bool):
            raise BodyError("MessageQueue needs an integer queueId")
        return cls(topic, broker, qid)


@attrs.define(slots=True)
class LockEntry:
    """Who holds one queue and when they last renewed."""

    client_id: str
    last_update: float

    def is_expired(self, now: float, max_live: float) -> bool:
        return now - self.last_update > max_live

    def is_held_by(self, client_id: str, now: float, max_live: float) -> bool:
        return self.client_id == client_id and not self.is_expired(now, max_live)


class RebalanceLockManager:
    """Grants, renews and releases per-group queue locks."""

    def __init__(self, max_live_time: float = LOCK_MAX_LIVE_TIME) -> None:
        self.max_live_time = max_live_time
        self._table: dict[str, dict[MessageQueue, LockEntry]] = {}

    def try_lock_batch(
        self, group: str, mqs: Iterable[MessageQueue], client_id: str, now: float
    ) -> set[MessageQueue]:
        """Lock what can be locked for ``client_id``; return the queues it now holds.

        A queue is granted when unlocked, already held by this client (renewed), or held by
        an expired lock (taken over). Queues under another client's live lock are left out.
        """
        table = self._table.setdefault(group, {})
        granted: set[MessageQueue] = set()
        for mq in mqs:
            entry = table.get(mq)
            if entry is None:
                table[mq] = LockEntry(client_id, now)
            elif entry.client_id == client_id or entry.is_expired(now, self.max_live_time):
                entry.client_id = client_id
                entry.last_update = now
            else:
                continue
            granted.add(mq)
        return granted

    def unlock_batch(self, group: str, mqs: Iterable[MessageQueue], client_id: str) -> None:
        """Release the queues ``client_id`` holds; queues held by others are left alone."""
        table = self._table.get(group)
        if not table:
            return
        for mq in mqs:
            entry = table.get(mq)
            if entry is not None and entry.client_id == client_id:
                del table[mq]
        if not table:
            del self._table[group]

    def is_locked(self, group: str, mq: MessageQueue, client_id: str, now: float) -> bool:
        """True when ``client_id`` holds a live lock on ``mq``."""
        entry = self._table.get(group, {}).get(mq)
        return entry is not None and entry.is_held_by(client_id, now, self.max_live_time)

    def holder(self, group: str, mq: MessageQueue, now: float) -> str | None:
        """The client holding a live lock on ``mq``, if any."""
        entry = self._table.get(group, {}).get(mq)
        if entry is None or entry.is_expired(now, self.max_live_time):
            return None
        return entry.client_id

    def expire(self, now: float) -> int:
        """Drop expired entries (housekeeping, optional); return how many were dropped."""
        dropped = 0
        for group in list(self._table):
            table = self._table[group]
            for mq in [mq for mq, e in table.items() if e.is_expired(now, self.max_live_time)]:
                del table[mq]
                dropped += 1
            if not table:
                del self._table[group]
        return dropped
