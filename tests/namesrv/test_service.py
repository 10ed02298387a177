"""Tests for rmq.namesrv.service and rmq.namesrv.tap on a memory reactor."""

from __future__ import annotations

import os

from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from rmq.common.route import DataVersion, TopicConfig
from rmq.namesrv import tap
from rmq.namesrv.config import NamesrvConfig
from rmq.namesrv.service import NamesrvService


class ServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.config = NamesrvConfig(kvConfigPath=os.path.join(self.mktemp(), "kv.json"))
        self.port_file = self.mktemp()
        endpoint = TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1")
        self.service = NamesrvService(self.config, self.reactor, endpoint, port_file=self.port_file)

    def _register(self, now: float) -> None:
        self.service.routes.register_broker(
            "c", "127.0.0.1:10911", "b", 0, "h:1", {"T": TopicConfig("T")},
            DataVersion(1, 1), [], None, now,
        )  # fmt: skip

    def test_listens_and_writes_port_file(self) -> None:
        """Starting listens on the endpoint and writes the bound address."""
        self.service.startService()
        self.assertEqual(len(self.reactor.tcpServers), 1)
        port, factory, _, interface = self.reactor.tcpServers[0]
        self.assertEqual((port, interface), (0, "127.0.0.1"))
        self.assertIs(factory, self.service.factory)
        address = self.service.listener.address
        assert address is not None
        with open(self.port_file) as f:
            self.assertEqual(f.read(), address + "\n")
        self.successResultOf(self.service.stopService())

    def test_scan_drops_silent_brokers(self) -> None:
        """The 10 s scan drops a broker silent for more than 120 s."""
        self.service.startService()
        self._register(self.reactor.seconds())
        self.reactor.advance(120)
        self.assertIsNotNone(self.service.routes.route("T"))
        self.reactor.advance(10)
        self.assertIsNone(self.service.routes.route("T"))
        self.successResultOf(self.service.stopService())

    def test_scan_survives_errors(self) -> None:
        """An exception in one scan is logged and the loop keeps running."""
        self.service.startService()
        original = self.service.routes.expire

        def broken(now: float, max_idle: float) -> list[tuple[str, object]]:
            raise RuntimeError("boom")

        self.service.routes.expire = broken  # type: ignore[method-assign]
        self.reactor.advance(10)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(self.service.scanner.loop.running)
        self.service.routes.expire = original  # type: ignore[method-assign]
        self._register(self.reactor.seconds())
        self.reactor.advance(200)
        self.assertIsNone(self.service.routes.route("T"))
        self.successResultOf(self.service.stopService())

    def test_stop_leaves_no_timers(self) -> None:
        """Stopping cancels the scan loop."""
        self.service.startService()
        self.successResultOf(self.service.stopService())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_loads_kv_at_start(self) -> None:
        """The KV file is read when the service starts."""
        os.makedirs(os.path.dirname(self.config.kvConfigPath))
        with open(self.config.kvConfigPath, "w") as f:
            f.write('{"configTable":{"n":{"k":"v"}}}')
        self.service.startService()
        self.assertEqual(self.service.kv.get("n", "k"), "v")
        self.successResultOf(self.service.stopService())


class TapTests(SynchronousTestCase):
    def test_defaults_listen_from_config(self) -> None:
        """Without --listen the endpoint comes from listenPort and bindAddress."""
        options = tap.Options()
        options.parseOptions([])
        self.assertEqual(options["listen"], "tcp:9876:interface=127.0.0.1")

    def test_listen_option(self) -> None:
        """--listen and --port-file are taken as given."""
        options = tap.Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1", "--port-file", "p"])
        self.assertEqual(
            (options["listen"], options["port-file"]), ("tcp:0:interface=127.0.0.1", "p")
        )

    def test_bad_config_is_usage_error(self) -> None:
        """An unknown key in the YAML file is a UsageError naming it."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("bogusKey: 1\n")
        exc = self.assertRaises(usage.UsageError, tap.Options().parseOptions, ["--config", path])
        self.assertIn("bogusKey", str(exc))

    def test_make_service(self) -> None:
        """makeService builds a NamesrvService from the options."""
        options = tap.Options()
        options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1"])
        self.assertIsInstance(tap.makeService(options), NamesrvService)
