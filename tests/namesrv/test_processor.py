"""Tests for rmq.namesrv.processor: every name-server request code, through the dispatcher."""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.common import fastjson
from rmq.common.route import (
    ClusterInfo,
    DataVersion,
    KVTable,
    RegisterBrokerBody,
    TopicConfig,
    TopicList,
    TopicRouteData,
)
from rmq.namesrv.config import NamesrvConfig
from rmq.namesrv.kvconfig import KVConfigManager
from rmq.namesrv.processor import NamesrvProcessor, body_crc32
from rmq.namesrv.routeinfo import RouteInfoTables
from rmq.remoting.codes import RequestCode as RC
from rmq.remoting.codes import ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

ADDR = "127.0.0.1:10911"
DV = DataVersion(5, 1)
UNREG = {"brokerName": "broker-a", "brokerAddr": ADDR, "clusterName": "DefaultCluster"}
ORDER = {"namespace": "ORDER_TOPIC_CONFIG", "key": "T", "value": "broker-a:4"}


class FakeConnection:
    """Collects what the dispatcher answers on this connection."""

    def __init__(self, peer: str = "127.0.0.1:5555") -> None:
        self.peer = peer
        self.sent: list[RemotingCommand] = []

    def send_response(self, cmd: RemotingCommand) -> None:
        self.sent.append(cmd)


class ProcessorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.config = NamesrvConfig(
            kvConfigPath=os.path.join(self.mktemp(), "kvConfig.json"),
            configStorePath=os.path.join(self.mktemp(), "namesrv.properties"),
        )
        self.routes = RouteInfoTables()
        self.kv = KVConfigManager(self.config.kvConfigPath)
        self.updated: list[bool] = []
        self.proc = NamesrvProcessor(
            self.routes, self.kv, self.config, self.clock, lambda: self.updated.append(True)
        )
        self.dispatcher = Dispatcher()
        self.proc.register(self.dispatcher)
        self.conn = FakeConnection()

    def call(
        self,
        code: int,
        ext: dict[str, str] | None = None,
        body: bytes | None = None,
        version: int = 409,
        conn: Any = None,
    ) -> RemotingCommand:
        req = RemotingCommand(code, ext_fields=dict(ext or {}), body=body, version=version)
        conn = conn or self.conn
        before = len(conn.sent)
        self.dispatcher.dispatch(conn, req)
        self.assertEqual(len(conn.sent), before + 1)
        resp: RemotingCommand = conn.sent[-1]
        return resp

    def register(
        self,
        topics: tuple[str, ...] = ("T",),
        broker_id: int = 0,
        addr: str = ADDR,
        dv: DataVersion = DV,
        compressed: bool = False,
        crc: bool = True,
        conn: Any = None,
        version: int = 409,
    ) -> RemotingCommand:
        body = RegisterBrokerBody({t: TopicConfig(t, 4, 4, 6) for t in topics}, dv, [])
        raw = body.encode_compressed() if compressed else body.to_json()
        ext = {
            "brokerName": "broker-a",
            "brokerAddr": addr,
            "clusterName": "DefaultCluster",
            "haServerAddr": addr.replace("10911", "10912"),
            "brokerId": str(broker_id),
            "compressed": "true" if compressed else "false",
            "bodyCrc32": str(body_crc32(raw)) if crc else "0",
        }
        return self.call(RC.REGISTER_BROKER, ext, raw, conn=conn, version=version)

    # --- registration ---------------------------------------------------

    def test_register_and_route(self) -> None:
        """After REGISTER_BROKER the route has the broker; 4.9.4+ clients get quoted keys."""
        resp = self.register()
        self.assertEqual(resp.code, 0)
        self.assertIsNone(resp.body)
        route = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"})
        self.assertEqual(route.code, 0)
        assert route.body is not None
        self.assertEqual(json.loads(route.body)["brokerDatas"][0]["brokerAddrs"], {"0": ADDR})

    def test_route_key_style_by_version(self) -> None:
        """Old clients get unquoted keys unless they set acceptStandardJsonOnly."""
        self.register()
        old = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}, version=63)
        assert old.body is not None
        self.assertIn(b'{0:"127.0.0.1:10911"}', old.body)
        flagged = self.call(
            RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T", "acceptStandardJsonOnly": "true"}, version=63
        )
        assert flagged.body is not None
        self.assertIn(b'{"0":"127.0.0.1:10911"}', flagged.body)
        at_gate = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}, version=401)
        self.assertEqual(at_gate.body, flagged.body)

    def test_route_unknown_topic(self) -> None:
        """An unknown topic answers TOPIC_NOT_EXIST with Java's remark."""
        resp = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "Nope"})
        self.assertEqual(resp.code, ResponseCode.TOPIC_NOT_EXIST)
        assert resp.remark is not None
        self.assertTrue(
            resp.remark.startswith("No topic route info in name server for the topic: Nope")
        )

    def test_route_missing_topic_header(self) -> None:
        """A route request without topic is an error naming the field."""
        resp = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {})
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertIn("topic", resp.remark or "")

    def test_route_cache_follows_changes(self) -> None:
        """A cached route answer is refreshed after the tables change."""
        self.register()
        first = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}).body
        self.call(RC.WIPE_WRITE_PERM_OF_BROKER, {"brokerName": "broker-a"})
        second = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}).body
        assert first is not None and second is not None
        self.assertEqual(json.loads(first)["queueDatas"][0]["perm"], 6)
        self.assertEqual(json.loads(second)["queueDatas"][0]["perm"], 4)

    def test_register_compressed(self) -> None:
        """The compressed body form registers topics too."""
        self.assertEqual(self.register(("A", "B"), compressed=True).code, 0)
        self.assertEqual(self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "B"}).code, 0)

    def test_register_crc_mismatch(self) -> None:
        """A body whose CRC does not match is refused with 'crc32 not match'."""
        body = RegisterBrokerBody({"T": TopicConfig("T")}).to_json()
        ext = {
            "brokerName": "b", "brokerAddr": ADDR, "clusterName": "c", "haServerAddr": "h:1",
            "brokerId": "0", "bodyCrc32": str(body_crc32(body) ^ 1),
        }  # fmt: skip
        resp = self.call(RC.REGISTER_BROKER, ext, body)
        self.assertEqual((resp.code, resp.remark), (1, "crc32 not match"))
        self.assertEqual(self.routes.broker_addr, {})

    def test_register_crc_zero_unchecked(self) -> None:
        """bodyCrc32 0 means the body is not checked."""
        self.assertEqual(self.register(crc=False).code, 0)

    def test_register_old_version_bare_wrapper(self) -> None:
        """Brokers before V3_0_11 send the bare topic wrapper."""
        raw = b'{"dataVersion":{"counter":1,"timestamp":1},"topicConfigTable":{"Old":{"perm":6}}}'
        ext = {
            "brokerName": "b", "brokerAddr": ADDR, "clusterName": "c", "haServerAddr": "h:1",
            "brokerId": "0",
        }  # fmt: skip
        self.assertEqual(self.call(RC.REGISTER_BROKER, ext, raw, version=30).code, 0)
        self.assertEqual(self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "Old"}).code, 0)

    def test_register_bad_body(self) -> None:
        """A body that is not JSON answers SYSTEM_ERROR."""
        ext = {
            "brokerName": "b", "brokerAddr": ADDR, "clusterName": "c", "haServerAddr": "h:1",
            "brokerId": "0",
        }  # fmt: skip
        self.assertEqual(self.call(RC.REGISTER_BROKER, ext, b"\x00garbage").code, 1)

    def test_register_slave_gets_master(self) -> None:
        """A slave's REGISTER_BROKER answer names the master and its HA address."""
        self.register()
        resp = self.register(broker_id=1, addr="127.0.0.1:20911")
        self.assertEqual(resp.ext_fields, {"masterAddr": ADDR, "haServerAddr": "127.0.0.1:10912"})

    def test_register_returns_order_topic_config(self) -> None:
        """The response body is the ORDER_TOPIC_CONFIG KVTable when it has entries."""
        self.call(
            RC.PUT_KV_CONFIG, {"namespace": "ORDER_TOPIC_CONFIG", "key": "T", "value": "broker-a:4"}
        )
        resp = self.register()
        assert resp.body is not None
        self.assertEqual(KVTable.from_json(resp.body).table, {"T": "broker-a:4"})

    def test_order_topic_conf_in_route(self) -> None:
        """orderTopicConf appears in routes only with orderMessageEnable."""
        self.register()
        self.call(
            RC.PUT_KV_CONFIG, {"namespace": "ORDER_TOPIC_CONFIG", "key": "T", "value": "broker-a:4"}
        )
        body = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}).body
        assert body is not None
        self.assertIsNone(TopicRouteData.from_json(body).orderTopicConf)
        self.call(RC.UPDATE_NAMESRV_CONFIG, body=b"orderMessageEnable=true\n")
        body = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}).body
        assert body is not None
        self.assertEqual(TopicRouteData.from_json(body).orderTopicConf, "broker-a:4")

    def test_unregister(self) -> None:
        """UNREGISTER_BROKER removes the broker from routes."""
        self.register()
        ext = {
            "brokerName": "broker-a",
            "brokerAddr": ADDR,
            "clusterName": "DefaultCluster",
            "brokerId": "0",
        }
        self.assertEqual(self.call(RC.UNREGISTER_BROKER, ext).code, 0)
        self.assertEqual(self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}).code, 17)

    def test_connection_close_drops_broker(self) -> None:
        """The disconnect listener removes brokers registered on that connection at once."""
        broker_conn = FakeConnection("127.0.0.1:10911")
        self.register(conn=broker_conn)
        self.dispatcher.connection_lost(self.conn)  # type: ignore[arg-type]
        self.assertEqual(self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}).code, 0)
        self.dispatcher.connection_lost(broker_conn)  # type: ignore[arg-type]
        self.assertEqual(self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}).code, 17)

    def test_query_data_version(self) -> None:
        """QUERY_DATA_VERSION says whether the broker's topics changed and returns ours."""
        self.register(dv=DataVersion(5, 1))
        ext = {
            "brokerName": "broker-a",
            "brokerAddr": ADDR,
            "clusterName": "DefaultCluster",
            "brokerId": "0",
        }
        same = self.call(RC.QUERY_DATA_VERSION, ext, DataVersion(5, 1).to_json())
        self.assertEqual(same.ext_fields, {"changed": "false"})
        assert same.body is not None
        self.assertEqual(DataVersion.from_json(same.body), DataVersion(5, 1))
        other = self.call(RC.QUERY_DATA_VERSION, ext, DataVersion(5, 2).to_json())
        self.assertEqual(other.ext_fields, {"changed": "true"})

    # --- perms, topics, cluster ---------------------------------------------

    def test_perm_of_broker(self) -> None:
        """Wipe and add write perm answer the topic counts."""
        self.register(("A", "B"))
        wipe = self.call(RC.WIPE_WRITE_PERM_OF_BROKER, {"brokerName": "broker-a"})
        self.assertEqual(wipe.ext_fields, {"wipeTopicCount": "2"})
        add = self.call(RC.ADD_WRITE_PERM_OF_BROKER, {"brokerName": "broker-a"})
        self.assertEqual(add.ext_fields, {"addTopicCount": "2"})

    def test_cluster_info_always_unquoted(self) -> None:
        """GET_BROKER_CLUSTER_INFO uses unquoted ids even for new clients."""
        self.register()
        body = self.call(RC.GET_BROKER_CLUSTER_INFO).body
        assert body is not None
        self.assertIn(b'{0:"127.0.0.1:10911"}', body)
        info = ClusterInfo.from_json(body)
        self.assertEqual(info.clusterAddrTable, {"DefaultCluster": ["broker-a"]})

    def test_topic_lists(self) -> None:
        """All topics, by cluster, system topics and unit topics answer TopicList bodies."""
        self.register(("A", "B"))

        def topics(code: int, ext: dict[str, str] | None = None) -> list[str]:
            body = self.call(code, ext).body
            assert body is not None
            return TopicList.from_json(body).topicList

        self.assertEqual(topics(RC.GET_ALL_TOPIC_LIST_FROM_NAMESERVER), ["A", "B"])
        self.assertEqual(
            topics(RC.GET_TOPICS_BY_CLUSTER, {"cluster": "DefaultCluster"}), ["A", "B"]
        )
        self.assertEqual(topics(RC.GET_SYSTEM_TOPIC_LIST_FROM_NS), ["DefaultCluster", "broker-a"])
        for code in (
            RC.GET_UNIT_TOPIC_LIST,
            RC.GET_HAS_UNIT_SUB_TOPIC_LIST,
            RC.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST,
        ):
            self.assertEqual(topics(code), [])
        self.routes.topic_queue["A"]["broker-a"].topicSysFlag = 3
        self.routes.version += 1
        self.assertEqual(topics(RC.GET_UNIT_TOPIC_LIST), ["A"])
        self.assertEqual(topics(RC.GET_HAS_UNIT_SUB_TOPIC_LIST), ["A"])
        self.assertEqual(topics(RC.GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST), [])

    def test_delete_topic(self) -> None:
        """DELETE_TOPIC_IN_NAMESRV removes the route."""
        self.register(("A", "B"))
        self.assertEqual(self.call(RC.DELETE_TOPIC_IN_NAMESRV, {"topic": "A"}).code, 0)
        self.assertEqual(self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "A"}).code, 17)
        self.call(RC.DELETE_TOPIC_IN_NAMESRV, {"topic": "B", "clusterName": "DefaultCluster"})
        self.assertEqual(self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "B"}).code, 17)

    # --- KV and config ---------------------------------------------------------

    def test_kv_round_trip(self) -> None:
        """PUT/GET/DELETE_KV_CONFIG and GET_KVLIST_BY_NAMESPACE, persisted to disk."""
        self.assertEqual(
            self.call(RC.PUT_KV_CONFIG, {"namespace": "n", "key": "k", "value": "v"}).code, 0
        )
        got = self.call(RC.GET_KV_CONFIG, {"namespace": "n", "key": "k"})
        self.assertEqual(got.ext_fields, {"value": "v"})
        listing = self.call(RC.GET_KVLIST_BY_NAMESPACE, {"namespace": "n"}).body
        self.assertEqual(listing, b'{"table":{"k":"v"}}')
        with open(self.config.kvConfigPath) as f:
            self.assertEqual(json.load(f), {"configTable": {"n": {"k": "v"}}})
        self.assertEqual(self.call(RC.DELETE_KV_CONFIG, {"namespace": "n", "key": "k"}).code, 0)
        missing = self.call(RC.GET_KV_CONFIG, {"namespace": "n", "key": "k"})
        self.assertEqual(missing.code, ResponseCode.QUERY_NOT_FOUND)
        self.assertEqual(self.call(RC.GET_KVLIST_BY_NAMESPACE, {"namespace": "x"}).code, 22)

    def test_put_kv_missing_key(self) -> None:
        """PUT_KV_CONFIG without a key is SYSTEM_ERROR naming it."""
        resp = self.call(RC.PUT_KV_CONFIG, {"namespace": "n", "value": "v"})
        self.assertEqual(resp.code, 1)
        self.assertIn("key", resp.remark or "")

    def test_get_and_update_config(self) -> None:
        """GET_NAMESRV_CONFIG lists properties; UPDATE changes them and persists."""
        body = self.call(RC.GET_NAMESRV_CONFIG).body
        assert body is not None
        self.assertIn(b"orderMessageEnable=false\n", body)
        self.assertEqual(self.call(RC.UPDATE_NAMESRV_CONFIG, body=b"clusterTest=true").code, 0)
        self.assertTrue(self.config.clusterTest)
        self.assertEqual(self.updated, [True])

    def test_update_config_blacklist(self) -> None:
        """Blacklisted keys answer NO_PERMISSION (16)."""
        resp = self.call(RC.UPDATE_NAMESRV_CONFIG, body=b"kvConfigPath=/tmp/x")
        self.assertEqual(resp.code, ResponseCode.NO_PERMISSION)
        self.assertNotEqual(self.config.kvConfigPath, "/tmp/x")

    def test_update_config_bad_value(self) -> None:
        """A bad value answers SYSTEM_ERROR naming the key."""
        resp = self.call(RC.UPDATE_NAMESRV_CONFIG, body=b"listenPort=abc")
        self.assertEqual(resp.code, 1)
        self.assertIn("listenPort", resp.remark or "")

    def test_every_ns_code_handled(self) -> None:
        """Every request code the 4.9.x name server serves has a handler."""
        served = {
            100, 101, 102, 103, 104, 105, 106, 205, 206, 216, 219, 224, 304,
            311, 312, 313, 318, 319, 322, 327,
        }  # fmt: skip
        self.assertEqual(set(self.proc.handlers()), served)

    def test_unknown_code(self) -> None:
        """Unknown codes answer REQUEST_CODE_NOT_SUPPORTED."""
        self.assertEqual(self.call(9999).code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED)

    def test_fastjson_loads_vector_of_response(self) -> None:
        """Our legacy route body has the same shape as the one the C++ client accepted."""
        self.register()
        ours = self.call(RC.GET_ROUTEINFO_BY_TOPIC, {"topic": "T"}, version=63).body
        assert ours is not None
        value = fastjson.loads(ours)
        self.assertEqual(sorted(value), ["brokerDatas", "filterServerTable", "queueDatas"])
        self.assertEqual(sorted(value["brokerDatas"][0]), ["brokerAddrs", "brokerName", "cluster"])
