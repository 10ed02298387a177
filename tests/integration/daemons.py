"""Start real ``twistd`` daemons (rmq-namesrv, rmq-broker, ...) as child processes for tests.

``start_twistd(plugin, args, tmpdir)`` runs ``twistd -n --pidfile= --logfile=... <plugin>
--port-file <file> <args>`` with ``cwd=tmpdir`` and this checkout on PYTHONPATH (so the plugin
is found), waits for the plugin to write its bound ``host:port`` to the port file, and fires
with a ``Daemon``. Every plugin used here must accept ``--port-file``. ``Daemon.stop()`` sends
SIGTERM by PID (SIGKILL after a grace period) and fires once the process has exited.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from twisted.internet import defer, protocol, task
from twisted.python.failure import Failure

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TWISTD = "from twisted.scripts.twistd import run; run()"


class DaemonFailed(Exception):
    """The daemon exited, or did not report its address in time; carries its log tail."""


class _Proto(protocol.ProcessProtocol):
    def __init__(self) -> None:
        self.ended: defer.Deferred[int | None] = defer.Deferred()
        self.output = bytearray()
        self.exit_code: int | None = None
        self.running = True

    def outReceived(self, data: bytes) -> None:
        self.output += data

    def errReceived(self, data: bytes) -> None:
        self.output += data

    def processEnded(self, reason: Failure) -> None:
        self.running = False
        self.exit_code = getattr(reason.value, "exitCode", None)
        self.ended.callback(self.exit_code)


class Daemon:
    """A running twistd child: its PID, bound ``address`` and log file."""

    def __init__(self, reactor: Any, proto: _Proto, pid: int, tmpdir: str, log: str) -> None:
        self.reactor = reactor
        self.proto = proto
        self.pid = pid
        self.tmpdir = tmpdir
        self.log = log
        self.address = ""

    @property
    def running(self) -> bool:
        return self.proto.running

    def log_text(self) -> str:
        """The daemon's log so far (and anything it printed)."""
        text = self.proto.output.decode("utf-8", "replace")
        if os.path.exists(self.log):
            with open(self.log, encoding="utf-8", errors="replace") as f:
                text += f.read()
        return text

    def stop(self, grace: float = 5.0) -> defer.Deferred[int | None]:
        """SIGTERM by PID, SIGKILL after ``grace`` seconds; fires with the exit code."""
        if not self.proto.running:
            return defer.succeed(self.proto.exit_code)
        _signal(self.pid, signal.SIGTERM)
        killer = self.reactor.callLater(grace, _signal, self.pid, signal.SIGKILL)
        d: defer.Deferred[int | None] = defer.Deferred()

        def ended(code: int | None) -> int | None:
            if killer.active():
                killer.cancel()
            d.callback(code)
            return code

        self.proto.ended.addCallback(ended)
        return d


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def spawn_twistd(
    plugin: str, args: Sequence[str], tmpdir: str, reactor: Any = None
) -> tuple[Daemon, str]:
    """Start the process without waiting; returns the Daemon and its port-file path."""
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    os.makedirs(tmpdir, exist_ok=True)
    port_file = os.path.join(tmpdir, f"{plugin}.port")
    log = os.path.join(tmpdir, f"{plugin}.log")
    for stale in (port_file, log):
        if os.path.exists(stale):
            os.remove(stale)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
    argv = [
        sys.executable, "-c", TWISTD, "-n", "--pidfile=", f"--logfile={log}",
        plugin, "--port-file", port_file, *args,
    ]  # fmt: skip
    proto = _Proto()
    transport = reactor.spawnProcess(proto, sys.executable, argv, env=env, path=tmpdir)
    return Daemon(reactor, proto, int(transport.pid), tmpdir, log), port_file


def start_twistd(
    plugin: str,
    args: Sequence[str],
    tmpdir: str,
    reactor: Any = None,
    timeout: float = 30.0,
) -> defer.Deferred[Daemon]:
    """Start ``twistd <plugin>`` and fire with the Daemon once it reports its address."""
    daemon, port_file = spawn_twistd(plugin, args, tmpdir, reactor)
    clock = daemon.reactor
    deadline = clock.seconds() + timeout

    def poll() -> Daemon | None:
        if os.path.exists(port_file):
            with open(port_file, encoding="ascii") as f:
                address = f.read().strip()
            if address:
                daemon.address = address
                return daemon
        if not daemon.running or clock.seconds() > deadline:
            daemon.stop(grace=1.0)
            why = "exited" if not daemon.running else "gave no address in time"
            raise DaemonFailed(f"{plugin} {why}:\n{daemon.log_text()[-4000:]}")
        return None

    d: defer.Deferred[Daemon] = defer.Deferred()

    def check() -> None:
        try:
            result = poll()
        except DaemonFailed as exc:
            loop.stop()
            d.errback(exc)
            return
        if result is not None:
            loop.stop()
            d.callback(result)

    loop = task.LoopingCall(check)
    loop.clock = clock
    loop.start(0.05, now=True)
    return d
