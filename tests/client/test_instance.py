"""MQClientInstance: timers that survive errors, heartbeats, routes, address server, shutdown."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.client.config import ClientConfig, NameServerAddresses, build_client_id
from rmq.client.instance import MQClientInstance, parse_reset_offset_body
from rmq.client.model import Message, MessageQueue
from rmq.client.producer import Producer, ProducerConfig
from rmq.common import fastjson
from rmq.common.errors import ConfigError, RemotingConnectError
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.client.fakes import NAMESRV, FakeCluster, FakeConnection
from tests.client.helpers import make_instance, pump


class InstanceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock, brokers=2)
        self.cluster.ensure_topic("T")
        self.inst, self.remoting = make_instance(self.clock, self.cluster)
        self.producer = Producer(self.clock, ProducerConfig("PG"), self.inst)
        self.successResultOf(self.producer.start())
        d = self.producer.send(Message("T", b"x"))
        pump(self.clock)
        self.successResultOf(d)

    def test_heartbeat_every_30s_to_every_master(self) -> None:
        """Heartbeats start after 1 s and repeat every 30 s, one per broker."""
        pump(self.clock, 1.05, step=0.05)
        self.assertEqual(len(self.remoting.codes(RequestCode.HEART_BEAT)), 2)
        self.clock.advance(30)
        self.assertEqual(len(self.remoting.codes(RequestCode.HEART_BEAT)), 4)
        body = fastjson.loads(self.remoting.codes(RequestCode.HEART_BEAT)[0].body or b"")
        self.assertEqual(body["clientID"], self.inst.client_id)
        groups = [p["groupName"] for p in body["producerDataSet"]]
        self.assertEqual(groups, ["PG", "CLIENT_INNER_PRODUCER"])

    def test_loops_survive_errors(self) -> None:
        """A failing heartbeat (brokers down) does not stop the next runs."""
        for b in self.cluster.brokers.values():
            self.cluster.down.add(b.addr)
        pump(self.clock, 1.05, step=0.05)
        self.clock.advance(30)
        self.assertEqual(self.inst.broker_versions, {})
        self.cluster.down.clear()
        self.clock.advance(30)
        self.assertEqual(len(self.remoting.codes(RequestCode.HEART_BEAT)), 6)
        self.assertEqual(len(self.inst.broker_versions), 2)

    def test_loop_survives_exception(self) -> None:
        """A periodic task that raises synchronously keeps its schedule."""
        calls: list[int] = []

        def bad() -> Deferred[None]:
            calls.append(1)
            raise RuntimeError("bug")

        self.inst.heartbeat_all = bad  # type: ignore[method-assign]
        inst2 = MQClientInstance(self.clock, ClientConfig(namesrv_addr=NAMESRV), self.remoting)
        inst2.heartbeat_all = bad  # type: ignore[method-assign]
        inst2.start()
        self.clock.advance(1)
        self.clock.advance(30)
        self.assertEqual(len(calls), 2)
        self.flushLoggedErrors(RuntimeError)

    def test_route_refresh(self) -> None:
        """Routes of used topics are re-fetched every 30 s."""
        before = len(self.remoting.codes(RequestCode.GET_ROUTEINFO_BY_TOPIC))
        self.clock.advance(0.01)
        self.clock.advance(30)
        after = len(self.remoting.codes(RequestCode.GET_ROUTEINFO_BY_TOPIC))
        self.assertEqual(after - before, 2)

    def test_name_server_failover(self) -> None:
        """A dead first name server is skipped for the next one."""
        inst = MQClientInstance(
            self.clock, ClientConfig(namesrv_addr=f"127.0.0.1:1;{NAMESRV}"), self.remoting
        )
        self.cluster.down.add("127.0.0.1:1")
        for _ in range(2):
            route = self.successResultOf(inst.fetch_route("T"))
            self.assertEqual(len(route.brokerDatas), 2)

    def test_shutdown_unregisters_and_closes(self) -> None:
        """Shutdown stops timers, unregisters the producer at every broker and closes."""
        self.successResultOf(self.inst.shutdown())
        self.assertEqual(len(self.remoting.codes(RequestCode.UNREGISTER_CLIENT)), 2)
        self.assertTrue(self.remoting.closed)
        self.clock.advance(100)
        self.assertEqual(self.remoting.codes(RequestCode.HEART_BEAT), [])

    def test_unknown_consumer_running_info(self) -> None:
        """Running info for a group this client does not have answers code 1."""
        req = RemotingCommand.request(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "X", "clientId": "c"}
        )
        conn = FakeConnection("127.0.0.1:10911")
        self.inst.dispatcher.dispatch(conn, req)  # type: ignore[arg-type]
        self.assertEqual(conn.responses[0].code, 1)

    def test_reset_body_forms(self) -> None:
        """Both ResetOffsetBody (object keys) and the CPP list form parse."""
        mq = MessageQueue("T", "b", 1)
        java = b'{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:5}}'
        cpp = b'{"offsetTable":[{"brokerName":"b","offset":7,"queueId":1,"topic":"T"}]}'
        self.assertEqual(parse_reset_offset_body(java), {mq: 5})
        self.assertEqual(parse_reset_offset_body(cpp), {mq: 7})


class ConfigTests(SynchronousTestCase):
    def test_client_id_shape(self) -> None:
        """Client ids are ip@instance, with DEFAULT replaced by pid#number."""
        self.assertEqual(build_client_id(ClientConfig("a:1", instance_name="x"), 0), "127.0.0.1@x")
        cid = build_client_id(ClientConfig("a:1"), 1.5)
        self.assertRegex(cid, r"^127\.0\.0\.1@\d+#\d+$")
        self.assertNotEqual(cid, build_client_id(ClientConfig("a:1"), 1.5))

    def test_no_address_at_all(self) -> None:
        """Neither a name server nor an address server is a configuration error."""
        self.assertRaises(ConfigError, NameServerAddresses, Clock(), ClientConfig())

    def test_address_server_polled(self) -> None:
        """The address server list is fetched at start and every 2 minutes; failures keep it."""
        clock = Clock()
        answers: list[Any] = [
            succeed(b"a:1;b:2\n"),
            fail(RemotingConnectError("x")),
            succeed(b"c:3"),
        ]
        urls: list[str] = []

        def fetch(url: str) -> Deferred[bytes]:
            urls.append(url)
            return answers.pop(0)  # type: ignore[no-any-return]

        cfg = ClientConfig(address_server_url="http://127.0.0.1:8080/rocketmq/nsaddr")
        ns = NameServerAddresses(clock, cfg, fetch)
        self.successResultOf(ns.start())
        self.assertEqual(ns.addresses, ["a:1", "b:2"])
        clock.advance(120)
        self.assertEqual(ns.addresses, ["a:1", "b:2"])
        clock.advance(120)
        self.assertEqual(ns.addresses, ["c:3"])
        self.assertEqual(urls, ["http://127.0.0.1:8080/rocketmq/nsaddr"] * 3)
        ns.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_choose_rotates(self) -> None:
        """Successive name-server choices start at different servers."""
        ns = NameServerAddresses(Clock(), ClientConfig("a:1;b:2"))
        self.assertEqual([ns.choose()[0], ns.choose()[0], ns.choose()[0]], ["a:1", "b:2", "a:1"])
