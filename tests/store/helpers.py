"""Shared helpers for store tests: a tmp store driven by a Clock and an inline or manual runner."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.store.config import StoreConfig
from rmq.store.message_store import MessageStore, MessageToStore

SMALL = {
    "mappedFileSizeCommitLog": 64 * 1024,
    "mappedFileSizeConsumeQueue": 20 * 100,
    "maxHashSlotNum": 101,
    "maxIndexNum": 400,
    "maxMessageSize": 16 * 1024,
}


def inline_runner(f: Callable[[], None]) -> Deferred[None]:
    """Run blocking work at once (deterministic tests)."""
    return maybeDeferred(f)


class ManualRunner:
    """Holds blocking work until the test releases it, to observe group commit."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], None], Deferred[None]]] = []

    def __call__(self, f: Callable[[], None]) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self.pending.append((f, d))
        return d

    def release(self) -> int:
        """Run every pending job; return how many ran."""
        jobs, self.pending = self.pending, []
        for f, d in jobs:
            f()
            d.callback(None)
        return len(jobs)


def make_store(
    root: str,
    clock: Clock | None = None,
    runner: Any = inline_runner,
    disk_usage: Callable[[str], float] | None = None,
    **overrides: Any,
) -> tuple[MessageStore, Clock]:
    """A started store under ``root`` with small files."""
    clock = clock or Clock()
    if clock.seconds() == 0:
        clock.advance(1_700_000_000)
    values = {**SMALL, "storePathRootDir": root, **overrides}
    store = MessageStore(
        StoreConfig.from_mapping(values),
        clock,
        store_host=("127.0.0.1", 10911),
        runner=runner,
        disk_usage=disk_usage or (lambda _p: 0.1),
    )
    store.start()
    return store, clock


def crash(store: MessageStore) -> None:
    """Drop a store as a killed process would: no flush, abort file left, lock released."""
    for lc in store._loops:
        if lc.running:
            lc.stop()
    store.flusher.stop()
    store.commitlog.queue.close()
    for cq in store.dispatcher.queues.values():
        cq.queue.close()
    if store.index is not None:
        store.index.close()
    os.close(store._lock_fd)
    store._running = False


def msg(topic: str = "T", qid: int = 0, body: bytes = b"hello", props: str = "") -> MessageToStore:
    """A message to put."""
    return MessageToStore(
        topic=topic,
        queue_id=qid,
        body=body,
        properties=props,
        born_timestamp=1,
        born_host=("10.0.0.2", 5555),
    )


class StoreTestCase(SynchronousTestCase):
    """Opens stores under the test's temp dir on one Clock and shuts them all down after."""

    def setUp(self) -> None:
        self.root = self.mktemp()
        self.stores: list[MessageStore] = []

    def open(self, **kw: Any) -> MessageStore:
        store, self.clock = make_store(self.root, clock=getattr(self, "clock", None), **kw)
        self.stores.append(store)
        return store

    def tearDown(self) -> None:
        for s in self.stores:
            if s._running:
                d = s.shutdown()
                runner = s._runner
                while isinstance(runner, ManualRunner) and runner.pending:
                    runner.release()
                self.successResultOf(d)
