"""CommitLog flushing: group commit for SYNC_FLUSH and the periodic flush of ASYNC_FLUSH.

fsync runs through an injected runner (a worker thread in production). While one run is in flight,
new waiters queue up and share the next run: that is the group commit. Waiters fire in append
order once the flushed offset passes their end; each gets False if ``timeout`` passes first.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from rmq.store.commitlog import CommitLog
from rmq.store.mappedfile import MappedFile

log = logging.getLogger(__name__)

Runner = Callable[[Callable[[], None]], "Deferred[None]"]


class CommitLogFlusher:
    """Flushes the CommitLog in a runner and tells waiters when their bytes are on disk."""

    def __init__(
        self,
        clock: IReactorTime,
        runner: Runner,
        commitlog: CommitLog,
        timeout_ms: int,
        on_flushed: Callable[[int], None],
    ) -> None:
        self._clock = clock
        self._runner = runner
        self._log = commitlog
        self._timeout = timeout_ms / 1000.0
        self._on_flushed = on_flushed
        self._waiters: deque[tuple[int, float, Deferred[bool]]] = deque()
        self._timer: IDelayedCall | None = None
        self.in_flight: Deferred[None] | None = None
        self.in_flight_files: frozenset[MappedFile] = frozenset()
        """Files the running flush fsyncs: retention must not close them meanwhile."""
        self.flushed_offset = commitlog.max_offset
        self.runs = 0
        self._firing = False  # waiters being fired: their follow-up puts share one next run

    def reset(self, offset: int) -> None:
        """Set the flushed offset (after recovery, data on disk already)."""
        self.flushed_offset = offset

    def wait_for(self, end: int, timeout: bool = True) -> Deferred[bool]:
        """Fire True once data before ``end`` is flushed (False on timeout)."""
        if end <= self.flushed_offset:
            return succeed(True)
        d: Deferred[bool] = Deferred()
        deadline = self._clock.seconds() + self._timeout if timeout else float("inf")
        self._waiters.append((end, deadline, d))
        if timeout and self._timer is None:
            self._timer = self._clock.callLater(self._timeout, self._expire)
        if not self._firing:
            self.kick()
        return d

    def dirty_bytes(self) -> int:
        """Bytes written but not yet flushed."""
        return self._log.max_offset - self.flushed_offset

    def kick(self) -> None:
        """Start a flush run unless one is in flight."""
        if self.in_flight is not None:
            return
        files = [mf for mf in self._log.queue.files if mf.flushed_position < mf.wrote_position]
        target = self._log.max_offset
        ts = self._log.last_store_timestamp
        if not files:
            self._flushed(target, ts)
            return
        snapshot = [(mf, mf.wrote_position) for mf in files]
        self.runs += 1

        def work() -> None:
            for mf, _ in snapshot:
                mf.fsync()

        self.in_flight_files = frozenset(mf for mf, _ in snapshot)
        d = self._runner(work)
        self.in_flight = d
        d.addCallbacks(lambda _: self._done(snapshot, target, ts), self._failed)

    def _done(self, snapshot: list[tuple[MappedFile, int]], target: int, ts: int) -> None:
        self.in_flight = None
        self.in_flight_files = frozenset()
        for mf, wrote in snapshot:
            if wrote > mf.flushed_position:
                mf.flushed_position = wrote
        self._flushed(target, ts)

    def _flushed(self, target: int, ts: int) -> None:
        if target > self.flushed_offset:
            self.flushed_offset = target
            self._on_flushed(ts)
        waiters = self._waiters
        self._firing = True  # puts made by these callbacks wait for the kick below
        try:
            while waiters and waiters[0][0] <= self.flushed_offset:
                waiters.popleft()[2].callback(True)
        finally:
            self._firing = False
        if self._waiters and self.in_flight is None:
            self.kick()

    def _failed(self, f: Failure) -> None:
        self.in_flight = None
        self.in_flight_files = frozenset()
        log.error("commit log flush failed: %s", f.getErrorMessage())
        while self._waiters:
            self._waiters.popleft()[2].callback(False)

    def _expire(self) -> None:
        self._timer = None
        now = self._clock.seconds()
        keep: deque[tuple[int, float, Deferred[bool]]] = deque()
        expired: list[tuple[int, float, Deferred[bool]]] = []
        for w in self._waiters:
            (expired if w[1] <= now else keep).append(w)
        self._waiters = keep
        for _, _, d in expired:
            d.callback(False)
        finite = [w[1] for w in keep if w[1] != float("inf")]
        if finite:
            self._timer = self._clock.callLater(max(0.0, min(finite) - now), self._expire)

    def stop(self) -> None:
        """Cancel the timeout timer (waiters keep waiting for the final flush)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
