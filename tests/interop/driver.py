"""Twisted-side helper: run an interop driver script as a child process and read its JSON lines.

The official clients use native threads, so they never run inside trial's process.  Tests spawn
``cppdriver.py`` with ``sys.executable`` and get its events as Deferreds.  Processes are stopped by
PID (SIGTERM, then SIGKILL after a grace period) on timeout or test cleanup.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IDelayedCall, IReactorProcess, IReactorTime
from twisted.python.failure import Failure

CPP_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cppdriver.py")
_STDERR_KEEP = 16 * 1024
EXIT_SHUTDOWN_ABORT = 6  # same value as cppdriver.EXIT_SHUTDOWN_ABORT

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


class DriverTimeout(Exception):
    """The awaited events did not arrive in time."""


class DriverEnded(Exception):
    """The driver process ended before the awaited events arrived."""

    def __init__(self, result: DriverResult) -> None:
        super().__init__(f"driver ended (exit {result.exit_code}): {result.errors}")
        self.result = result


@attrs.frozen
class DriverResult:
    """Everything a finished (or snapshotted) driver run produced."""

    events: list[Event]
    exit_code: int | None
    signal: int | None
    stderr_tail: str
    timed_out: bool

    def of(self, kind: str) -> list[Event]:
        """Events whose ``event`` field is ``kind``."""
        return [e for e in self.events if e.get("event") == kind]

    @property
    def summary(self) -> Event | None:
        """The last summary line, if any."""
        found = self.of("summary")
        return found[-1] if found else None

    @property
    def errors(self) -> list[Event]:
        """Error lines (a failed run prints at least one)."""
        return self.of("error")

    @property
    def messages(self) -> list[Event]:
        """Delivered/pulled message lines."""
        return self.of("message")

    @property
    def shutdown_aborted(self) -> bool:
        """The native client aborted during shutdown, after the results were printed."""
        return self.exit_code == EXIT_SHUTDOWN_ABORT and bool(self.of("shutting_down"))

    @property
    def ok(self) -> bool:
        """The scenario succeeded: exit 0, or 0 was planned and only the native shutdown died."""
        if self.timed_out or self.errors:
            return False
        if self.exit_code == 0:
            return True
        return self.shutdown_aborted and self.of("shutting_down")[-1].get("planned_exit") == 0


@attrs.define
class _Waiter:
    predicate: Predicate
    count: int
    deferred: defer.Deferred[list[Event]]
    matched: list[Event] = attrs.Factory(list)
    timer: IDelayedCall | None = None


class _LineProtocol(protocol.ProcessProtocol):
    """Splits stdout into JSON lines and keeps the tail of stderr."""

    def __init__(self, owner: DriverProcess) -> None:
        self._owner = owner
        self._buffer = b""
        self.stderr = b""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._owner._line(line)

    def errReceived(self, data: bytes) -> None:
        self.stderr = (self.stderr + data)[-_STDERR_KEEP:]

    def processEnded(self, reason: Failure) -> None:
        if self._buffer:
            self._owner._line(self._buffer)
            self._buffer = b""
        self._owner._ended(reason)


def _with_option(args: Sequence[str], name: str, value: str) -> list[str]:
    """Add ``--name value`` unless present; JSON-object arguments get a key instead."""
    argv = list(args)
    if len(argv) == 1 and argv[0].lstrip().startswith("{"):
        spec = json.loads(argv[0])
        spec.setdefault(name.replace("-", "_"), value)
        return [json.dumps(spec)]
    if f"--{name}" in argv or any(a.startswith(f"--{name}=") for a in argv):
        return argv
    return [*argv, f"--{name}", value]


class DriverProcess:
    """One running driver; events arrive as JSON lines and can be awaited."""

    def __init__(
        self,
        reactor: IReactorProcess,
        args: Sequence[str],
        log_dir: str,
        script: str = CPP_DRIVER,
        env: dict[str, str] | None = None,
    ) -> None:
        """Spawn ``sys.executable script args --log-dir log_dir`` at once."""
        self._clock = IReactorTime(reactor)
        self.events: list[Event] = []
        self._waiters: list[_Waiter] = []
        self._end_waiters: list[defer.Deferred[DriverResult]] = []
        self._kill_timer: IDelayedCall | None = None
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.running = True
        self.timed_out = False
        os.makedirs(log_dir, exist_ok=True)
        child_env = dict(os.environ if env is None else env)
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env["HOME"] = os.path.abspath(log_dir)
        argv = [sys.executable, "-u", script, *_with_option(args, "log-dir", log_dir)]
        self._proto = _LineProtocol(self)
        transport = reactor.spawnProcess(
            self._proto, sys.executable, argv, env=child_env, path=os.path.abspath(log_dir)
        )
        pid = transport.pid
        assert pid is not None
        self.pid: int = pid

    # -- process events

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            event = {"event": "raw", "line": text}
        self.events.append(event)
        for waiter in list(self._waiters):
            if waiter.predicate(event):
                waiter.matched.append(event)
                self._maybe_fire(waiter)

    def _ended(self, reason: Failure) -> None:
        self.running = False
        value = reason.value
        self.exit_code = getattr(value, "exitCode", None)
        self.signal = getattr(value, "signal", None)
        if self._kill_timer is not None and self._kill_timer.active():
            self._kill_timer.cancel()
        result = self.result()
        for waiter in list(self._waiters):
            self._drop(waiter)
            waiter.deferred.errback(DriverEnded(result))
        ends, self._end_waiters = self._end_waiters, []
        for d in ends:
            d.callback(result)

    # -- waiting

    def result(self) -> DriverResult:
        """Snapshot of what the process produced so far."""
        return DriverResult(
            events=list(self.events),
            exit_code=self.exit_code,
            signal=self.signal,
            stderr_tail=self._proto.stderr.decode("utf-8", "replace"),
            timed_out=self.timed_out,
        )

    def wait_for(
        self, predicate: Predicate, count: int = 1, timeout: float = 30.0
    ) -> defer.Deferred[list[Event]]:
        """Fire with the first ``count`` events matching ``predicate`` (past ones included).

        Errbacks with DriverTimeout after ``timeout`` seconds, or DriverEnded if the process
        exits first.
        """
        waiter = _Waiter(predicate, count, defer.Deferred(lambda _d: self._drop(waiter)))
        waiter.matched = [e for e in self.events if predicate(e)]
        if len(waiter.matched) >= count:
            waiter.deferred.callback(waiter.matched[:count])
            return waiter.deferred
        if not self.running:
            waiter.deferred.errback(DriverEnded(self.result()))
            return waiter.deferred
        self._waiters.append(waiter)
        waiter.timer = self._clock.callLater(timeout, self._time_out, waiter)
        return waiter.deferred

    def wait_for_events(
        self, n: int, kind: str = "message", timeout: float = 30.0
    ) -> defer.Deferred[list[Event]]:
        """Fire with the first ``n`` events of type ``kind``."""
        return self.wait_for(lambda e: e.get("event") == kind, n, timeout)

    def _maybe_fire(self, waiter: _Waiter) -> None:
        if len(waiter.matched) >= waiter.count:
            self._drop(waiter)
            waiter.deferred.callback(waiter.matched[: waiter.count])

    def _drop(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        if waiter.timer is not None and waiter.timer.active():
            waiter.timer.cancel()

    def _time_out(self, waiter: _Waiter) -> None:
        self._drop(waiter)
        waiter.deferred.errback(
            DriverTimeout(f"{len(waiter.matched)} of {waiter.count} events; {self.events[-3:]}")
        )

    def ended(self) -> defer.Deferred[DriverResult]:
        """Fire with the final DriverResult when the process has exited."""
        if not self.running:
            return defer.succeed(self.result())
        d: defer.Deferred[DriverResult] = defer.Deferred()
        self._end_waiters.append(d)
        return d

    # -- stopping

    def send_signal(self, sig: int) -> None:
        """Signal the child by PID while it is still ours (not yet reaped)."""
        if self.running:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace: float = 5.0) -> defer.Deferred[DriverResult]:
        """SIGTERM now, SIGKILL after ``grace`` seconds; fires when the process has exited."""
        if self.running:
            self.send_signal(signal.SIGTERM)
            if self._kill_timer is None or not self._kill_timer.active():
                self._kill_timer = self._clock.callLater(grace, self.send_signal, signal.SIGKILL)
        return self.ended()

    def kill(self) -> defer.Deferred[DriverResult]:
        """SIGKILL now; fires when the process has exited."""
        self.send_signal(signal.SIGKILL)
        return self.ended()


def run_cpp_driver(
    reactor: IReactorProcess,
    args: list[str],
    log_dir: str,
    timeout: float,
    script: str = CPP_DRIVER,
) -> defer.Deferred[DriverResult]:
    """Run the driver to completion; on ``timeout`` stop it and mark the result ``timed_out``.

    Unless given, ``--deadline`` is set a little below ``timeout`` so the driver normally reports
    its own clean error first.
    """
    argv = _with_option(args, "deadline", f"{max(timeout - 2.0, timeout * 0.8):.3f}")
    proc = DriverProcess(reactor, argv, log_dir, script=script)
    clock = IReactorTime(reactor)

    def on_timeout() -> None:
        proc.timed_out = True
        proc.stop(grace=2.0)

    timer = clock.callLater(timeout, on_timeout)

    def done(result: DriverResult) -> DriverResult:
        if timer.active():
            timer.cancel()
        return result

    return proc.ended().addCallback(done)
