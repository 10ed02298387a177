"""Broker config loading and the name-server registration loop."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import BrokerConfig, load_broker_config
from rmq.broker.registration import ANNOUNCE_WAIT, BrokerRegistration
from rmq.common import fastjson
from rmq.common.errors import ConfigError, RemotingConnectError
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import FakeConnection, make_broker
from tests.broker.test_admin import TOPIC_EXT

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

    def test_topic_creation_registers_at_once(self) -> None:
        """Creating a topic sends REGISTER_BROKER (two-way, with the topic) to every name server."""
        self.reg.start()
        before = len(self.fake.calls)
        self.broker.topics.create_for_send("NewTopic", "TBW102", 4)
        sent = self.fake.calls[before:]
        self.assertEqual(sorted(a for a, _ in sent), ["127.0.0.1:1", "127.0.0.1:2"])
        for _addr, cmd in sent:
            self.assertFalse(cmd.is_oneway)
            table = fastjson.loads(cmd.body or b"")["topicConfigSerializeWrapper"]
            self.assertIn("NewTopic", table["topicConfigTable"])
        self.assertEqual(self.fake.oneways, [])

    def test_stop_unregisters(self) -> None:
        """stop() ends the loop and sends UNREGISTER_BROKER to each name server."""
        self.reg.start()
        self.reg.stop()
        codes = [c.code for _, c in self.fake.calls[-2:]]
        self.assertEqual(codes, [RequestCode.UNREGISTER_BROKER] * 2)
        before = len(self.fake.calls)
        self.broker.clock.advance(120)
        self.assertEqual(len(self.fake.calls), before)


class HeldNamesrvClient(FakeNamesrvClient):
    """Like FakeNamesrvClient, but REGISTER_BROKER answers wait until ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[Deferred[Any], RemotingCommand]] = []

    def invoke(self, addr: str, cmd: RemotingCommand, timeout: float) -> Deferred[Any]:
        self.calls.append((addr, cmd))
        d: Deferred[Any] = Deferred()
        self.held.append((d, cmd))
        return d

    def release(self) -> None:
        held, self.held = self.held, []
        for d, cmd in held:
            d.callback(cmd.make_response())


class AnnouncedTests(SynchronousTestCase):
    """A change is answered only once the name servers were told (no route race for clients)."""

    def setUp(self) -> None:
        self.broker = make_broker(self, namesrvAddr="127.0.0.1:1;127.0.0.1:2")
        self.fake = HeldNamesrvClient()
        self.broker.namesrv_client = self.fake  # type: ignore[assignment]
        self.broker.registration = BrokerRegistration(self.broker)
        self.broker.registration.start()
        self.fake.release()
        self.conn = FakeConnection()

    def send(self, topic: str) -> None:
        header = {
            "producerGroup": "PG",
            "topic": topic,
            "defaultTopic": "TBW102",
            "defaultTopicQueueNums": "4",
            "queueId": "0",
            "sysFlag": "0",
            "bornTimestamp": "1",
            "flag": "0",
            "properties": "",
            "reconsumeTimes": "0",
            "unitMode": "false",
            "batch": "false",
        }
        cmd = RemotingCommand.request(RequestCode.SEND_MESSAGE, header, b"hello")
        self.broker.dispatcher.dispatch(self.conn, cmd)  # type: ignore[arg-type]

    def test_nothing_pending_fires_at_once(self) -> None:
        """With no change in flight, announced() has already fired."""
        assert self.broker.registration is not None
        self.assertIsNone(self.successResultOf(self.broker.registration.announced()))

    def test_send_creating_topic_waits_for_name_servers(self) -> None:
        """The send that auto-creates a topic is answered after both name servers answered."""
        self.send("Fresh")
        self.assertEqual(len(self.fake.held), 2)
        self.assertEqual(self.conn.responses, [])
        self.fake.release()
        self.assertEqual([r.code for r in self.conn.responses], [0])
        self.assertEqual(self.broker.store.get_max_offset_in_queue("Fresh", 0), 1)

    def test_send_to_known_topic_does_not_wait(self) -> None:
        """Once the topic exists, sends are answered without a name-server round."""
        self.send("Fresh")
        self.fake.release()
        self.send("Fresh")
        self.assertEqual(self.fake.held, [])
        self.assertEqual([r.code for r in self.conn.responses], [0, 0])

    def test_failed_name_server_does_not_block(self) -> None:
        """A name server that fails (or times out) still lets the send be answered."""
        self.send("Fresh")
        (d1, _), (d2, cmd2) = self.fake.held
        self.fake.held = []
        d1.errback(RemotingConnectError("refused"))
        self.assertEqual(self.conn.responses, [])
        d2.callback(cmd2.make_response())
        self.assertEqual([r.code for r in self.conn.responses], [0])

    def test_silent_name_server_delays_send_at_most_a_second(self) -> None:
        """A name server that never answers holds the creating send only ANNOUNCE_WAIT."""
        self.send("Fresh")
        self.broker.clock.advance(ANNOUNCE_WAIT - 0.01)
        self.assertEqual(self.conn.responses, [])
        self.broker.clock.advance(0.01)
        self.assertEqual([r.code for r in self.conn.responses], [0])
        self.fake.release()  # the late answers change nothing
        self.assertEqual(len(self.conn.responses), 1)

    def test_silent_name_server_delays_update_topic_at_most_a_second(self) -> None:
        """UPDATE_AND_CREATE_TOPIC is answered after ANNOUNCE_WAIT even if nobody answers, well
        inside rmq-admin's 5 s timeout."""
        cmd = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, TOPIC_EXT)
        self.broker.dispatcher.dispatch(self.conn, cmd)  # type: ignore[arg-type]
        self.broker.clock.advance(ANNOUNCE_WAIT - 0.01)
        self.assertEqual(self.conn.responses, [])
        self.broker.clock.advance(0.01)
        self.assertEqual([r.code for r in self.conn.responses], [0])

    def test_update_topic_waits_for_name_servers(self) -> None:
        """UPDATE_AND_CREATE_TOPIC answers after the name servers took the topic."""
        cmd = RemotingCommand.request(RequestCode.UPDATE_AND_CREATE_TOPIC, TOPIC_EXT)
        self.broker.dispatcher.dispatch(self.conn, cmd)  # type: ignore[arg-type]
        self.assertEqual(self.conn.responses, [])
        self.fake.release()
        self.assertEqual([r.code for r in self.conn.responses], [0])
