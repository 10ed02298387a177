"""Dispatch: feed each appended record to its ConsumeQueue and the index, then tell listeners.

Listeners (the broker's long polling) hear ``(topic, queue_id, max_offset, tags_code,
store_timestamp, properties)``; a failing listener is logged and never breaks a put.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TypeAlias

from rmq.store.consumequeue import ConsumeQueue
from rmq.store.format import CQ_UNIT_SIZE, DispatchRequest, dispatched
from rmq.store.index import IndexService

log = logging.getLogger(__name__)

Properties: TypeAlias = "Mapping[str, str] | str | None"
"""A message's properties for arrival listeners: decoded, or still the encoded text
(``rmq.common.message.decode_properties`` it only when needed)."""
ArrivalListener = Callable[[str, int, int, "int | None", int, Properties], None]
AppendedEntry = tuple[int, int, int, int, "str | None", "str | None", Properties]
"""(commit log offset, size, queue offset or -1 when kept out of the queue, tags code, KEYS,
UNIQ_KEY, properties: dict or encoded text)."""


class Dispatcher:
    """Owns the ConsumeQueue table and the index; builds their entries from records."""

    def __init__(
        self,
        cq_root: str,
        cq_file_size: int,
        index: IndexService | None,
        preallocate: bool = True,
    ) -> None:
        self.cq_root = cq_root
        self.cq_file_size = cq_file_size
        self.index = index
        self.preallocate = preallocate
        self.queues: dict[tuple[str, int], ConsumeQueue] = {}
        self.listeners: list[ArrivalListener] = []
        self.last_store_timestamp = 0
        self.dispatched_offset = 0

    def find_or_create(self, topic: str, queue_id: int) -> ConsumeQueue:
        """The ConsumeQueue for topic/queue, created on first use."""
        key = (topic, queue_id)
        cq = self.queues.get(key)
        if cq is None:
            cq = ConsumeQueue(self.cq_root, topic, queue_id, self.cq_file_size, self.preallocate)
            self.queues[key] = cq
        return cq

    def load(self) -> None:
        """Map every ConsumeQueue found under the root directory."""
        if not os.path.isdir(self.cq_root):
            return
        for topic in sorted(os.listdir(self.cq_root)):
            tdir = os.path.join(self.cq_root, topic)
            if not os.path.isdir(tdir):
                continue
            for qid in sorted(os.listdir(tdir)):
                if qid.lstrip("-").isdigit():
                    self.find_or_create(topic, int(qid)).load()

    def ensure_room(
        self, topic: str, queue_id: int, queue_offset: int, units: int, keys: int
    ) -> None:
        """Create the ConsumeQueue and index files a put of ``units`` queue units and ``keys``
        index entries will need, before its record is written (DiskFullError/StoreError)."""
        # Inline checks first: a put almost always fits the last files (hot path).
        if units:
            cq = self.queues.get((topic, queue_id)) or self.find_or_create(topic, queue_id)
            files = cq.queue.files
            if (
                not files
                or (queue_offset + units) * CQ_UNIT_SIZE > files[-1].file_from_offset + cq.file_size
            ):
                cq.ensure_room(queue_offset, units)
        index = self.index
        if keys and index is not None:
            last = index.files[-1] if index.files else None
            if last is None or last.max_entries - last.index_count < keys:
                index.ensure_room(keys)

    def dispatch_appended(
        self, topic: str, queue_id: int, store_ts: int, entries: list[AppendedEntry]
    ) -> None:
        """Dispatch records just appended by the put path (one topic and queue, in order).

        Same effect as :meth:`dispatch` per record, without a DispatchRequest each.
        """
        cq = self.queues.get((topic, queue_id))
        index = self.index
        listeners = self.listeners
        offset = size = 0
        for offset, size, queue_offset, tags_code, keys, uniq_key, props in entries:
            if queue_offset >= 0:
                if cq is None:
                    cq = self.find_or_create(topic, queue_id)
                cq.put(offset, size, tags_code, queue_offset)
            if index is not None and (uniq_key or keys):
                index.add(topic, keys, uniq_key, offset, store_ts)
            if listeners and queue_offset >= 0:
                self._notify(topic, queue_id, queue_offset + 1, tags_code, store_ts, props)
        self.last_store_timestamp = store_ts
        self.dispatched_offset = offset + size

    def _notify(
        self,
        topic: str,
        queue_id: int,
        max_offset: int,
        tags_code: int,
        store_ts: int,
        props: Mapping[str, str] | str | None,
    ) -> None:
        for cb in self.listeners:
            try:
                cb(topic, queue_id, max_offset, tags_code, store_ts, props)
            except Exception:
                log.exception("arrival listener failed")

    def dispatch(self, req: DispatchRequest, notify: bool = True) -> None:
        """Write the CQ unit and index entries of one record, then notify listeners."""
        in_queue = dispatched(req.sys_flag)
        cq = None
        if in_queue:
            cq = self.find_or_create(req.topic, req.queue_id)
            cq.put(req.commit_log_offset, req.size, req.tags_code, req.queue_offset)
        if self.index is not None and (req.uniq_key or req.keys):
            self.index.build(req)
        self.last_store_timestamp = req.store_timestamp
        self.dispatched_offset = req.commit_log_offset + req.size
        if cq is not None and notify and self.listeners:
            max_offset = cq.max_offset
            for cb in self.listeners:
                try:
                    cb(
                        req.topic,
                        req.queue_id,
                        max_offset,
                        req.tags_code,
                        req.store_timestamp,
                        req.properties,
                    )
                except Exception:
                    log.exception("arrival listener failed")
