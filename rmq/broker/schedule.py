"""Delay levels: messages parked in ``SCHEDULE_TOPIC_XXXX`` and delivered when due (§7.9).

A send whose ``DELAY`` property is > 0 is redirected by :meth:`ScheduleMessageService.redirect`
to queue ``level - 1`` of the schedule topic, keeping ``REAL_TOPIC``/``REAL_QID``. One timer per
level (on the injected clock) reads its queue from the saved offset and re-puts every due message
to its real topic and queue, with ``DELAY`` removed.

Durability: a level's offset moves past a message only after its re-put has been stored, and the
offset table (``delayOffset.json``, unquoted integer keys as Java writes it) is then persisted
(writes coalesce; the file is also written every ``flushDelayOffsetInterval``). A message is
therefore never lost across a restart. A crash between a stored re-put and the offset write
reaches the disk re-delivers the messages in that window - at most the puts in flight - once more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import attrs
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from rmq.broker.persist import JsonFilePersister, Runner, load_json_file
from rmq.broker.requeue import InnerMessage, from_stored, put, tags_code_of
from rmq.broker.topics import SCHEDULE_TOPIC, TRANS_HALF_TOPIC
from rmq.common import fastjson
from rmq.common.errors import ConfigError
from rmq.common.message import (
    DELAY,
    REAL_QID,
    REAL_TOPIC,
    TRANSACTION_MASK,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    WAIT,
    MessageExt,
    decode_message_ext,
    decode_properties,
    encode_properties,
)

__all__ = [
    "SCHEDULE_TOPIC",
    "ScheduleMessageService",
    "delay_level_of",
    "parse_delay_levels",
]

FIRST_DELAY = 1.0
"""Seconds from start to each level's first run (Java: 1000 ms)."""
IDLE_DELAY = 0.1
"""Seconds between passes when a level has nothing due, and after a failed put."""
BATCH = 32

_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_LEVEL = re.compile(r"^(\d+)([smhd])$")

_log = Logger()

M = TypeVar("M")


def parse_delay_levels(text: str) -> dict[int, int]:
    """``"1s 5s 10s ..."`` -> {level: delay in ms}, levels counted from 1."""
    levels: dict[int, int] = {}
    for i, word in enumerate(text.split(), start=1):
        match = _LEVEL.match(word.strip().lower())
        if match is None:
            raise ConfigError(f"messageDelayLevel: bad level {word!r} (use e.g. 5s, 1m, 2h, 1d)")
        levels[i] = int(match.group(1)) * _UNITS[match.group(2)]
    if not levels:
        raise ConfigError("messageDelayLevel: no levels")
    return levels


def delay_level_of(properties: Mapping[str, str]) -> int:
    """The message's DELAY level (0 when absent or not a number)."""
    raw = properties.get(DELAY)
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        return 0


class ScheduleMessageService:
    """Parks delayed messages and delivers them per level on the clock."""

    def __init__(
        self,
        store: Any,
        clock: Any,
        delay_levels: str,
        path: str,
        runner: Runner,
        *,
        flush_interval: float = 10.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.delays = parse_delay_levels(delay_levels)
        self.max_level = max(self.delays)
        self.path = path
        self.flush_interval = flush_interval
        self.offsets: dict[int, int] = {}
        """Level -> next schedule-queue offset to deliver."""
        self.delivered = 0
        self._persister = JsonFilePersister(path, self.encode, runner)
        self._calls: dict[int, IDelayedCall] = {}
        self._busy: set[int] = set()
        self._flush: LoopingCall | None = None
        self._running = False

    # --- send path ---------------------------------------------------------------------

    def redirect(self, msg: M) -> M:
        """Park ``msg`` in the schedule topic when it carries DELAY > 0 (not a tx half/rollback).

        ``msg`` is any object with ``topic``, ``queue_id``, ``properties`` (string or dict) and
        ``sys_flag`` (and optionally ``tags_code``); attrs instances are evolved, others changed
        in place. The tags code becomes the delivery time, as Java writes it.
        """
        raw = msg.properties  # type: ignore[attr-defined]
        props = dict(raw) if isinstance(raw, Mapping) else decode_properties(raw)
        level = delay_level_of(props)
        tx = msg.sys_flag & TRANSACTION_MASK  # type: ignore[attr-defined]
        if level <= 0 or tx in (TRANSACTION_PREPARED_TYPE, TRANSACTION_ROLLBACK_TYPE):
            return msg
        if level > self.max_level:
            level = self.max_level
            props[DELAY] = str(level)
        props[REAL_TOPIC] = msg.topic  # type: ignore[attr-defined]
        props[REAL_QID] = str(msg.queue_id)  # type: ignore[attr-defined]
        changes: dict[str, Any] = {
            "topic": SCHEDULE_TOPIC,
            "queue_id": level - 1,
            "properties": props if isinstance(raw, Mapping) else encode_properties(props),
        }
        if hasattr(msg, "tags_code"):
            changes["tags_code"] = self.deliver_timestamp(level, self._now_ms())
        if attrs.has(type(msg)):
            return attrs.evolve(msg, **changes)  # type: ignore[misc]
        for key, value in changes.items():
            setattr(msg, key, value)
        return msg

    transform = redirect
    """Alias used by the send processor."""

    def deliver_timestamp(self, level: int, store_timestamp: int) -> int:
        """When a message parked at ``store_timestamp`` on ``level`` is due (ms)."""
        return store_timestamp + self.delays.get(level, self.delays[self.max_level])

    # --- life cycle ----------------------------------------------------------------------

    def load(self) -> None:
        """Read delayOffset.json (or its .bak); a missing file means every level starts at 0."""
        obj = load_json_file(self.path)
        if obj is None:
            return
        table = obj.get("offsetTable") or {}
        if not isinstance(table, Mapping):
            raise ConfigError(f"{self.path}: offsetTable must be an object")
        try:
            self.offsets = {int(k): int(v) for k, v in table.items()}
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.path}: bad offsetTable entry: {exc}") from exc

    def encode(self) -> bytes:
        """The delayOffset.json content (also the GET_ALL_DELAY_OFFSET body)."""
        return fastjson.dumpb({"offsetTable": dict(self.offsets)})

    def persist(self) -> Deferred[None]:
        """Write the offset table atomically off the reactor thread."""
        return self._persister.persist()

    def start(self) -> None:
        """Start one timer per level (first run after 1 s) and the periodic flush."""
        if self._running:
            return
        self._running = True
        for level in self.delays:
            self._schedule(level, FIRST_DELAY)
        loop = LoopingCall(self._periodic_persist)
        loop.clock = self.clock
        loop.start(self.flush_interval, now=False)
        self._flush = loop

    def stop(self) -> Deferred[None]:
        """Cancel the timers and persist the offsets."""
        self._running = False
        for call in self._calls.values():
            if call.active():
                call.cancel()
        self._calls.clear()
        if self._flush is not None and self._flush.running:
            self._flush.stop()
        self._flush = None
        return self.persist()

    def _periodic_persist(self) -> None:
        self.persist().addErrback(lambda f: _log.failure("persisting delay offsets failed", f))

    # --- delivery ------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock.seconds() * 1000)

    def _schedule(self, level: int, seconds: float) -> None:
        if not self._running:
            return
        old = self._calls.get(level)
        if old is not None and old.active():
            old.cancel()
        self._calls[level] = self.clock.callLater(max(0.0, seconds), self._run, level)

    def _run(self, level: int) -> None:
        self._calls.pop(level, None)
        if level in self._busy or not self._running:
            return
        self._busy.add(level)
        d = Deferred.fromCoroutine(self._pass(level))
        d.addErrback(self._pass_failed, level)
        d.addCallback(self._after_pass, level)

    def _pass_failed(self, failure: Any, level: int) -> float:
        _log.failure("delay level {lvl} delivery failed", failure, lvl=level)
        return IDLE_DELAY

    def _after_pass(self, wait: float, level: int) -> None:
        self._busy.discard(level)
        self._schedule(level, wait)

    async def _pass(self, level: int) -> float:
        """Deliver what is due on one level; return the seconds until the next pass."""
        offset = self.offsets.get(level, 0)
        result = await maybeDeferred(
            self.store.get_message, "", SCHEDULE_TOPIC, level - 1, offset, BATCH, None
        )
        try:
            buffers = list(getattr(result, "buffers", None) or ())
            if not buffers:
                nxt = int(getattr(result, "next_begin_offset", offset))
                if nxt > offset:
                    self.offsets[level] = nxt
                return IDLE_DELAY
            messages = [decode_message_ext(buf)[0] for buf in buffers]
        finally:
            release = getattr(result, "release", None)
            if release is not None:
                release()
        delay_ms = self.delays[level]
        for msg in messages:
            now = self._now_ms()
            due = msg.store_timestamp + delay_ms
            if due > now + delay_ms:  # the clock moved back: deliver now
                due = now
            if due > now:
                return (due - now) / 1000.0
            inner = self.real_message(msg)
            if inner is not None:
                outcome = await put(self.store, inner)
                if not outcome.ok:
                    _log.warn(
                        "delay level {lvl}: re-put of offset {o} failed: {s}",
                        lvl=level,
                        o=msg.queue_offset,
                        s=outcome.status,
                    )
                    return IDLE_DELAY
                self.delivered += 1
            self.offsets[level] = msg.queue_offset + 1
            self.persist().addErrback(lambda f: _log.failure("persisting delay offsets", f))
            if not self._running:
                return IDLE_DELAY
        return 0.0 if len(messages) >= BATCH else IDLE_DELAY

    @staticmethod
    def real_message(msg: MessageExt) -> InnerMessage | None:
        """The copy to deliver to REAL_TOPIC/REAL_QID (None: drop, e.g. half-topic copies)."""
        inner = from_stored(msg)
        props = inner.properties
        real_topic = props.get(REAL_TOPIC)
        if not real_topic or real_topic == TRANS_HALF_TOPIC:
            return None
        try:
            inner.queue_id = int(props.get(REAL_QID, "0"))
        except ValueError:
            inner.queue_id = 0
        inner.topic = real_topic
        props.pop(DELAY, None)
        props[WAIT] = "false"
        inner.tags_code = tags_code_of(props)
        return inner

    def pending(self) -> Iterable[tuple[int, int]]:
        """(level, next offset) pairs, for runtime info and tests."""
        return sorted(self.offsets.items())
