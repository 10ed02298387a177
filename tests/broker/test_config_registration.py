"""Broker config loading and the name-server registration loop."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import BrokerConfig, load_broker_config
from rmq.broker.registration import BrokerRegistration
from rmq.common import fastjson
from rmq.common.errors import ConfigError, RemotingConnectError
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import make_broker

ETC = os.path.join(os.path.dirname(__file__), "..", "..", "etc", "broker.yaml")


class ConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """RocketMQ defaults: port 10911, 8 queues, perm 6, auto-create on, ~/store."""
        b, s = load_broker_config(None, {})
        self.assertEqual(
            (b.listen_port, b.default_topic_queue_nums, b.broker_permission), (10911, 8, 6)
        )
        self.assertTrue(b.auto_create_topic_enable)
        self.assertEqual(s.store_path_root_dir, "~/store")

    def test_etc_file_loads(self) -> None:
        """etc/broker.yaml is valid and loopback-friendly."""
        b, _ = load_broker_config(ETC, {})
        self.assertEqual(
            (b.broker_ip1, b.namesrv_addr, b.listen_port), ("127.0.0.1", "127.0.0.1:9876", 10911)
        )

    def test_unknown_key_named(self) -> None:
        """An unknown key stops loading with an error naming it."""
        with self.assertRaises(ConfigError) as cm:
            load_broker_config(None, {"brokerNmae": "x"})
        self.assertIn("brokerNmae", cm.exception.remark)

    def test_bad_value_named(self) -> None:
        """A mistyped value names its key (broker and store keys alike)."""
        with self.assertRaises(ConfigError) as cm:
            load_broker_config(None, {"listenPort": "abc"})
        self.assertIn("listenPort", cm.exception.remark)
        with self.assertRaises(ConfigError):
            load_broker_config(None, {"flushDiskType": "SOMETIMES"})

    def test_namesrv_list_and_period_clamp(self) -> None:
        """namesrvAddr splits on ';' and the period is clamped to 10..60 s."""
        b = BrokerConfig.from_mapping({"namesrvAddr": "a:1; b:2", "registerNameServerPeriod": 1})
        self.assertEqual(b.namesrv_list, ["a:1", "b:2"])
        self.assertEqual(b.register_period, 10.0)


class FakeNamesrvClient:
    """Records invokes; the first address fails, the second answers 0."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, RemotingCommand]] = []
        self.oneways: list[tuple[str, RemotingCommand]] = []
        self.broken = {"127.0.0.1:1"}

    def invoke(self, addr: str, cmd: RemotingCommand, timeout: float) -> Deferred[Any]:
        self.calls.append((addr, cmd))
        if addr in self.broken:
            return fail(RemotingConnectError("refused"))
        return succeed(cmd.make_response())

    def invoke_oneway(self, addr: str, cmd: RemotingCommand) -> Deferred[None]:
        self.oneways.append((addr, cmd))
        return succeed(None)


class RegistrationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self, namesrvAddr="127.0.0.1:1;127.0.0.1:2")
        self.fake = FakeNamesrvClient()
        self.broker.namesrv_client = self.fake  # type: ignore[assignment]
        self.reg = BrokerRegistration(self.broker)

    def test_registers_every_30s_and_survives_failures(self) -> None:
        """Both name servers get REGISTER_BROKER at once and every 30 s; failures don't stop it."""
        self.reg.start()
        self.assertEqual(len(self.fake.calls), 2)
        self.broker.clock.advance(30)
        self.broker.clock.advance(30)
        self.assertEqual(len(self.fake.calls), 6)
        self.assertEqual(self.reg.failures, 3)
        _addr, cmd = self.fake.calls[-1]
        self.assertEqual(cmd.code, RequestCode.REGISTER_BROKER)
        self.assertEqual(cmd.ext_fields["brokerAddr"], self.broker.address)
        body = fastjson.loads(cmd.body or b"")
        self.assertIn("TBW102", body["topicConfigSerializeWrapper"]["topicConfigTable"])

    def test_topic_creation_registers_oneway(self) -> None:
        """Creating a topic sends a oneway REGISTER_BROKER to every name server."""
        self.reg.start()
        self.broker.topics.create_for_send("NewTopic", "TBW102", 4)
        self.assertEqual(len(self.fake.oneways), 2)
        self.assertTrue(all(c.is_oneway for _, c in self.fake.oneways))

    def test_stop_unregisters(self) -> None:
        """stop() ends the loop and sends UNREGISTER_BROKER to each name server."""
        self.reg.start()
        self.reg.stop()
        codes = [c.code for _, c in self.fake.calls[-2:]]
        self.assertEqual(codes, [RequestCode.UNREGISTER_BROKER] * 2)
        before = len(self.fake.calls)
        self.broker.clock.advance(120)
        self.assertEqual(len(self.fake.calls), before)
