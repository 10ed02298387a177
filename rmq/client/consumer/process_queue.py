"""ProcessQueue: the pulled-but-not-yet-consumed messages of one queue.

Messages arrive in offset order, so a dict keyed by queue offset keeps them sorted by insertion.
The consumed offset to commit is the smallest offset still cached, or one past the highest seen.
"""

from __future__ import annotations

import attrs

from rmq.common.message import MessageExt


class ProcessQueue:
    """Cache, flow-control counters and lock state of one owned queue."""

    __slots__ = (
        "_consuming",
        "_msgs",
        "consuming_batch",
        "dropped",
        "in_listener",
        "last_consume",
        "last_lock",
        "last_pull",
        "locked",
        "max_offset",
        "msg_size",
    )

    def __init__(self) -> None:
        self._msgs: dict[int, MessageExt] = {}
        self._consuming: dict[int, MessageExt] = {}
        self.msg_size = 0
        self.max_offset = -1
        self.dropped = False
        self.locked = False
        self.last_lock = 0.0
        self.last_pull = 0.0
        self.last_consume = 0.0
        self.consuming_batch = False
        self.in_listener = False

    @property
    def msg_count(self) -> int:
        return len(self._msgs) + len(self._consuming)

    def put(self, msgs: list[MessageExt]) -> None:
        """Cache freshly pulled messages (ignoring offsets already cached)."""
        for msg in msgs:
            off = msg.queue_offset
            if off not in self._msgs and off not in self._consuming:
                self._msgs[off] = msg
                self.msg_size += len(msg.body)
            if off > self.max_offset:
                self.max_offset = off

    def max_span(self) -> int:
        """Distance between the lowest and highest cached offsets (concurrent flow control)."""
        if not self._msgs:
            return 0
        return self.max_offset - next(iter(self._msgs))

    def remove(self, msgs: list[MessageExt]) -> int:
        """Drop consumed messages; return the offset to commit (-1 if nothing was cached)."""
        if not self._msgs:
            return -1
        for msg in msgs:
            if self._msgs.pop(msg.queue_offset, None) is not None:
                self.msg_size -= len(msg.body)
        if self._msgs:
            return next(iter(self._msgs))
        return self.max_offset + 1

    # --- orderly ---------------------------------------------------------------------------

    def take(self, n: int) -> list[MessageExt]:
        """Move the ``n`` lowest cached messages into the consuming set and return them."""
        out: list[MessageExt] = []
        while self._msgs and len(out) < n:
            off = next(iter(self._msgs))
            msg = self._msgs.pop(off)
            self._consuming[off] = msg
            out.append(msg)
        return out

    def commit(self) -> int:
        """The consuming batch succeeded: forget it; return the next offset to commit."""
        if not self._consuming:
            return -1
        top = max(self._consuming)
        for msg in self._consuming.values():
            self.msg_size -= len(msg.body)
        self._consuming.clear()
        return top + 1

    def rollback(self, bump: bool = False) -> None:
        """Put the consuming batch back in front (``bump``: count one more reconsume)."""
        consuming = self._consuming
        if bump:
            consuming = {
                o: attrs.evolve(x, reconsume_times=x.reconsume_times + 1)
                for o, x in consuming.items()
            }
        merged = dict(sorted({**consuming, **self._msgs}.items()))
        self._consuming.clear()
        self._msgs = merged

    def clear(self) -> None:
        self._msgs.clear()
        self._consuming.clear()
        self.msg_size = 0

    def first_offset(self) -> int | None:
        """The lowest offset cached (consuming batch included)."""
        candidates = []
        if self._consuming:
            candidates.append(min(self._consuming))
        if self._msgs:
            candidates.append(next(iter(self._msgs)))
        return min(candidates) if candidates else None
