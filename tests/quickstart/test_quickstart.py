"""``twistd rmq``: name server and broker in one process."""

from __future__ import annotations

import os
import socket

from twisted.internet import reactor
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from rmq.common.route import TopicRouteData
from rmq.quickstart.tap import Options
from rmq.remoting.client import RemotingClient
from rmq.remoting.command import RemotingCommand
from tests.integration.cluster import SMALL_FILES
from tests.integration.daemons import start_twistd


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


class QuickstartDaemonTests(TestCase):
    timeout = 60

    async def test_one_process_serves_routes(self) -> None:
        """One twistd process runs both: a topic created by a send gets a route."""
        d = os.path.abspath(self.mktemp())
        os.makedirs(d)
        ns_port, broker_port = _free_port(), _free_port()
        ns = _write(
            os.path.join(d, "ns.yaml"),
            f"listenPort: {ns_port}\nkvConfigPath: {d}/kv.json\n"
            f"configStorePath: {d}/ns.properties\n",
        )
        br = _write(
            os.path.join(d, "broker.yaml"),
            f"listenPort: {broker_port}\nbrokerName: qs-broker\nbrokerIP1: 127.0.0.1\n"
            + SMALL_FILES,
        )
        daemon = await start_twistd(
            "rmq", ["--namesrv-config", ns, "--broker-config", br, "--store", f"{d}/store"], d
        )
        self.addCleanup(daemon.stop)
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
