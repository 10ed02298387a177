"""ConsumerOffsetManager: committed offsets per ``topic@group`` and queue, in consumerOffset.json.

The file has Java's fastjson shape, ``{"offsetTable":{"<topic>@<group>":{0:12,1:34}}}`` with
unquoted integer keys, so stores written by Apache RocketMQ load here and the other way round.
Negative commits (ali-ons sends -1 for queues it never consumed) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from twisted.internet.defer import Deferred

from rmq.broker.persist import JsonFilePersister, Runner, load_json_file
from rmq.common import fastjson
from rmq.common.errors import ConfigError

__all__ = ["TOPIC_GROUP_SEPARATOR", "ConsumerOffsetManager"]

TOPIC_GROUP_SEPARATOR = "@"


class ConsumerOffsetManager:
    """Committed consumer offsets; every change is in memory, disk writes are periodic."""

    def __init__(self, path: str, runner: Runner) -> None:
        self.path = path
        self.table: dict[str, dict[int, int]] = {}
        self._persister = JsonFilePersister(path, self.encode, runner)

    # --- queries and updates ---------------------------------------------------------

    @staticmethod
    def key(topic: str, group: str) -> str:
        return f"{topic}{TOPIC_GROUP_SEPARATOR}{group}"

    def commit(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        """Store ``offset`` for the queue; negative offsets are ignored."""
        if offset < 0:
            return
        key = f"{topic}{TOPIC_GROUP_SEPARATOR}{group}"
        queues = self.table.get(key)
        if queues is None:
            queues = self.table[key] = {}
        queues[queue_id] = offset

    def query(self, group: str, topic: str, queue_id: int) -> int:
        """The committed offset, or -1 when none was committed."""
        queues = self.table.get(f"{topic}{TOPIC_GROUP_SEPARATOR}{group}")
        if queues is None:
            return -1
        return queues.get(queue_id, -1)

    def query_all(self, group: str, topic: str) -> dict[int, int]:
        """Queue id -> committed offset for one topic and group (a copy)."""
        return dict(self.table.get(self.key(topic, group), {}))

    def topics_of_group(self, group: str) -> set[str]:
        """Topics the group has committed offsets for."""
        return {t for t, g in self._pairs() if g == group}

    def groups_of_topic(self, topic: str) -> set[str]:
        """Groups that have committed offsets for the topic."""
        return {g for t, g in self._pairs() if t == topic}

    def remove_group(self, group: str) -> None:
        """Forget every offset of ``group`` (DELETE_SUBSCRIPTIONGROUP with removeOffset)."""
        for key in [k for k in self.table if k.rpartition(TOPIC_GROUP_SEPARATOR)[2] == group]:
            del self.table[key]

    def remove_topic(self, topic: str) -> None:
        """Forget every offset of ``topic`` (topic deletion)."""
        for key in [k for k in self.table if k.rpartition(TOPIC_GROUP_SEPARATOR)[0] == topic]:
            del self.table[key]

    def _pairs(self) -> Iterator[tuple[str, str]]:
        for key in self.table:
            topic, _, group = key.rpartition(TOPIC_GROUP_SEPARATOR)
            yield topic, group

    # --- persistence ------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        """``{"offsetTable": {...}}`` with int queue keys (fastjson writes them unquoted)."""
        return {"offsetTable": {k: dict(v) for k, v in self.table.items()}}

    def encode(self) -> bytes:
        """The consumerOffset.json content (also the GET_ALL_CONSUMER_OFFSET body)."""
        return fastjson.dumpb(self.to_json_dict())

    def load(self) -> None:
        """Read the file (or its .bak); a missing file means no offsets yet."""
        obj = load_json_file(self.path)
        if obj is None:
            return
        self.table = self.decode_table(obj, self.path)

    @staticmethod
    def decode_table(obj: Mapping[Any, Any], source: str) -> dict[str, dict[int, int]]:
        """Parse the ``offsetTable`` of a decoded consumerOffset.json."""
        raw = obj.get("offsetTable") or {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source}: offsetTable must be an object")
        table: dict[str, dict[int, int]] = {}
        try:
            for key, queues in raw.items():
                table[str(key)] = {int(q): int(o) for q, o in (queues or {}).items()}
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{source}: bad offsetTable entry: {exc}") from exc
        return table

    def persist(self) -> Deferred[None]:
        """Write the table atomically through the runner; fires when it is on disk."""
        return self._persister.persist()
