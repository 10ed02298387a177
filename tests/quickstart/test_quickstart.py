"""``twistd rmq``: name server and broker in one process."""

from __future__ import annotations

import os
import signal
import socket

from twisted.application.service import Service
from twisted.internet import defer, reactor
from twisted.internet.error import ProcessTerminated
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from rmq.common.route import TopicRouteData
from rmq.quickstart.tap import InOrderService, Options
from rmq.remoting.client import RemotingClient
from rmq.remoting.command import RemotingCommand
from tests.integration.cluster import TEST_BROKER_KEYS
from tests.integration.daemons import Daemon, start_twistd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return path


class OptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """With no configs: name server on 127.0.0.1:9876 and the broker pointed at it."""
        opts = Options()
        opts.parseOptions([])
        self.assertEqual(opts.namesrv["listen"], "tcp:9876:interface=127.0.0.1")
        self.assertEqual(opts.broker.broker_config.namesrv_addr, "127.0.0.1:9876")
        self.assertEqual(opts.broker.broker_config.listen_port, 10911)

    def test_configs_and_store(self) -> None:
        """The broker follows the name server's configured port; --store overrides the root."""
        d = self.mktemp()
        os.makedirs(d)
        ns = _write(os.path.join(d, "ns.yaml"), "listenPort: 19999\n")
        opts = Options()
        opts.parseOptions(["--namesrv-config", ns, "--store", d])
        self.assertEqual(opts.broker.broker_config.namesrv_addr, "127.0.0.1:19999")
        self.assertEqual(opts.broker.store_config.store_path_root_dir, d)

    def test_bad_key_named(self) -> None:
        """An unknown key in either config stops start-up with its name."""
        d = self.mktemp()
        os.makedirs(d)
        bad = _write(os.path.join(d, "b.yaml"), "brokerNmae: x\n")
        with self.assertRaises(usage.UsageError) as cm:
            Options().parseOptions(["--broker-config", bad])
        self.assertIn("brokerNmae", str(cm.exception))


class _Child(Service):
    """Records its stop in ``log``; the stop finishes when ``done`` fires."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.done: defer.Deferred[None] = defer.Deferred()

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        self.log.append(self.name)
        return self.done


class InOrderServiceTests(SynchronousTestCase):
    def stop_two(self) -> tuple[list[str], _Child, _Child, defer.Deferred[None]]:
        """Start namesrv then broker children under an InOrderService, and stop it."""
        log: list[str] = []
        top = InOrderService()  # type: ignore[no-untyped-call]
        first, second = _Child("namesrv", log), _Child("broker", log)
        first.setServiceParent(top)
        second.setServiceParent(top)
        top.startService()
        self.top = top
        return log, first, second, top.stopService()

    def test_stops_last_first_one_at_a_time(self) -> None:
        """The last child stops first; the next starts stopping only once it has finished."""
        log, first, second, stopped = self.stop_two()
        self.assertEqual(log, ["broker"])
        second.done.callback(None)
        self.assertEqual(log, ["broker", "namesrv"])
        self.assertNoResult(stopped)
        first.done.callback(None)
        self.successResultOf(stopped)
        self.assertFalse(self.top.running)

    def test_a_failed_stop_does_not_block_the_next(self) -> None:
        """A child whose stop fails is logged and the remaining children still stop."""
        log, first, second, stopped = self.stop_two()
        second.done.errback(RuntimeError("boom"))
        first.done.callback(None)
        self.successResultOf(stopped)
        self.assertEqual(log, ["broker", "namesrv"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


async def _start(test: TestCase) -> tuple[Daemon, int, int]:
    """``twistd rmq`` on free loopback ports with small store files; (daemon, ns, broker port)."""
    d = os.path.abspath(test.mktemp())
    os.makedirs(d)
    ns_port, broker_port = _free_port(), _free_port()
    ns = _write(
        os.path.join(d, "ns.yaml"),
        f"listenPort: {ns_port}\nkvConfigPath: {d}/kv.json\nconfigStorePath: {d}/ns.properties\n",
    )
    br = _write(
        os.path.join(d, "broker.yaml"),
        f"listenPort: {broker_port}\nbrokerName: qs-broker\nbrokerIP1: 127.0.0.1\n"
        + TEST_BROKER_KEYS,
    )
    daemon = await start_twistd(
        "rmq", ["--namesrv-config", ns, "--broker-config", br, "--store", f"{d}/store"], d
    )
    test.addCleanup(daemon.stop)
    return daemon, ns_port, broker_port


class QuickstartDaemonTests(TestCase):
    timeout = 60

    async def test_one_process_serves_routes(self) -> None:
        """One twistd process runs both: a topic created by a send gets a route."""
        daemon, ns_port, broker_port = await _start(self)
        self.assertEqual(daemon.address, f"127.0.0.1:{broker_port}")
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        ns_addr = f"127.0.0.1:{ns_port}"
        # The broker registered with the name server: TBW102 has a route to it.
        resp = await client.invoke(ns_addr, RemotingCommand.request(105, {"topic": "TBW102"}), 5)
        self.assertEqual(resp.code, 0, resp.remark)
        route = TopicRouteData.from_json(resp.body or b"")
        self.assertEqual([b.brokerName for b in route.brokerDatas], ["qs-broker"])
        code = await daemon.stop()
        self.assertIn("Server Shut Down", daemon.log_text())
        del code

    async def test_ctrl_c_stops_both_cleanly(self) -> None:
        """SIGINT (Ctrl-C): a clean shutdown, the broker unregistering before the name server stops.

        twistd ends a signal-stopped run by re-raising that signal once shut down (as a shell
        sees 130 for Ctrl-C), so the clean stop shows as "terminated by SIGINT" with the
        closing log lines, not as exit status 0.
        """
        daemon, ns_port, broker_port = await _start(self)
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        ns_addr = f"127.0.0.1:{ns_port}"
        resp = await client.invoke(ns_addr, RemotingCommand.request(105, {"topic": "TBW102"}), 5)
        self.assertEqual(resp.code, 0, resp.remark)
        await client.close()
        reasons: list[Failure] = []
        ended = daemon.proto.processEnded

        def record(reason: Failure) -> None:
            reasons.append(reason)
            ended(reason)

        self.patch(daemon.proto, "processEnded", record)
        # SIGKILL only if SIGINT did not end the process in time (the test then fails).
        killer = reactor.callLater(20, os.kill, daemon.pid, signal.SIGKILL)
        os.kill(daemon.pid, signal.SIGINT)
        await daemon.proto.ended
        if killer.active():
            killer.cancel()
        log = daemon.log_text()
        self.assertEqual(len(reasons), 1)
        self.assertIsInstance(reasons[0].value, ProcessTerminated)
        self.assertEqual(reasons[0].value.signal, signal.SIGINT, log[-3000:])
        for line in (
            "Received SIGINT, shutting down.",
            "Main loop terminated.",
            "Server Shut Down.",
        ):
            self.assertIn(line, log)
        # The broker's UNREGISTER_BROKER reached the name server while it still served...
        self.assertNotIn("unregister from", log)
        self.assertNotIn("dropped: its connection closed", log)
        # ...and the broker's port closed before the name server's.
        broker_closed = log.index(f"(TCP Port {broker_port} Closed)")
        self.assertLess(broker_closed, log.index(f"(TCP Port {ns_port} Closed)"))
