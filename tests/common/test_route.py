"""Tests for rmq.common.route: the name-server bodies in both key styles."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from rmq.common import fastjson
from rmq.common.errors import BodyError
from rmq.common.route import (
    BrokerData,
    ClusterInfo,
    DataVersion,
    KVTable,
    QueueData,
    RegisterBrokerBody,
    TopicConfig,
    TopicList,
    TopicRouteData,
)


def _route() -> TopicRouteData:
    return TopicRouteData(
        [QueueData("broker-a", 4, 4, 6, 0)],
        [BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:20911", 1: "127.0.0.1:20921"})],
    )


class TopicRouteDataTests(SynchronousTestCase):
    def test_legacy_form(self) -> None:
        """Default encoding has unquoted broker ids and fastjson's field order."""
        self.assertEqual(
            _route().to_json(),
            b'{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:20911",1:"127.0.0.1:20921"},'
            b'"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},'
            b'"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,'
            b'"topicSysFlag":0,"writeQueueNums":4}]}',
        )

    def test_standard_form_is_json(self) -> None:
        """standard=True gives valid JSON with quoted ids."""
        obj = json.loads(_route().to_json(standard=True))
        self.assertEqual(obj["brokerDatas"][0]["brokerAddrs"]["1"], "127.0.0.1:20921")

    def test_round_trip_both_forms(self) -> None:
        """from_json reads back both encodings to an equal object."""
        for standard in (False, True):
            self.assertEqual(TopicRouteData.from_json(_route().to_json(standard)), _route())

    def test_order_conf_only_when_set(self) -> None:
        """orderTopicConf is omitted when None and written first when set."""
        route = _route()
        self.assertNotIn(b"orderTopicConf", route.to_json())
        route.orderTopicConf = "broker-a:4"
        self.assertEqual(TopicRouteData.from_json(route.to_json()).orderTopicConf, "broker-a:4")

    def test_vector_body(self) -> None:
        """The captured route body (old spelling topicSynFlag) parses."""
        body = (
            b'{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:20911"},"brokerName":"broker-a",'
            b'"cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":'
            b'"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":2,"writeQueueNums":4}]}'
        )
        route = TopicRouteData.from_json(body)
        self.assertEqual(route.queueDatas[0].topicSysFlag, 2)
        self.assertEqual(route.brokerDatas[0].brokerAddrs, {0: "127.0.0.1:20911"})

    def test_bad_bodies(self) -> None:
        """Non-JSON, non-object and non-integer broker ids raise BodyError."""
        for bad in [b"nope", b"[1]", b'{"brokerDatas":[{"brokerAddrs":{"x":"a"}}]}']:
            self.assertRaises(BodyError, TopicRouteData.from_json, bad)


class OtherBodiesTests(SynchronousTestCase):
    def test_cluster_info_unquoted(self) -> None:
        """ClusterInfo keeps unquoted ids and round-trips."""
        info = ClusterInfo(
            {"broker-a": BrokerData("c1", "broker-a", {0: "h:1"})}, {"c1": ["broker-a"]}
        )
        raw = info.to_json()
        self.assertIn(b'{0:"h:1"}', raw)
        self.assertEqual(ClusterInfo.from_json(raw), info)

    def test_topic_list(self) -> None:
        """TopicList is sorted, de-duplicated, and carries brokerAddr only when set."""
        self.assertEqual(TopicList(["b", "a", "b"]).to_json(), b'{"topicList":["a","b"]}')
        raw = TopicList(["x"], "h:1").to_json()
        self.assertEqual(TopicList.from_json(raw), TopicList(["x"], "h:1"))

    def test_kv_table(self) -> None:
        """KVTable round-trips its string map."""
        raw = KVTable({"T": "broker-a:4"}).to_json()
        self.assertEqual(raw, b'{"table":{"T":"broker-a:4"}}')
        self.assertEqual(KVTable.from_json(raw).table, {"T": "broker-a:4"})

    def test_data_version_equality(self) -> None:
        """DataVersions are equal when timestamp and counter are; extra fields are ignored."""
        dv = DataVersion.from_json(b'{"counter":3,"timestamp":17,"stateVersion":0}')
        self.assertEqual(dv, DataVersion(17, 3))
        self.assertNotEqual(dv, DataVersion(17, 4))


class RegisterBrokerBodyTests(SynchronousTestCase):
    def _body(self) -> RegisterBrokerBody:
        return RegisterBrokerBody(
            {"T1": TopicConfig("T1", 8, 8, 6), "T2": TopicConfig("T2", 2, 1, 4, "MULTI_TAG")},
            DataVersion(1700000000000, 5),
            [],
        )

    def test_json_round_trip(self) -> None:
        """The JSON form round-trips."""
        self.assertEqual(RegisterBrokerBody.from_json(self._body().to_json()), self._body())

    def test_java_shape(self) -> None:
        """Java's body (nested wrapper, counter as number) parses."""
        raw = (
            b'{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":2,'
            b'"timestamp":9},"topicConfigTable":{"T":{"order":true,"perm":6,"readQueueNums":4,'
            b'"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":1,'
            b'"writeQueueNums":4}}}}'
        )
        body = RegisterBrokerBody.from_json(raw)
        self.assertEqual(body.dataVersion, DataVersion(9, 2))
        self.assertEqual(
            body.topicConfigTable["T"], TopicConfig("T", 4, 4, 6, "SINGLE_TAG", 1, True)
        )

    def test_bare_wrapper(self) -> None:
        """A pre-3.0.11 body (bare wrapper) is read too."""
        raw = b'{"dataVersion":{"counter":1,"timestamp":2},"topicConfigTable":{"T":{"perm":6}}}'
        body = RegisterBrokerBody.from_json(raw)
        self.assertEqual(body.topicConfigTable["T"].topic_name, "T")

    def test_compressed_round_trip(self) -> None:
        """The compressed form round-trips (sys flag and order are not carried)."""
        body = self._body()
        self.assertEqual(RegisterBrokerBody.decode_compressed(body.encode_compressed()), body)

    def test_compressed_layout(self) -> None:
        """The compressed form is zlib of length-prefixed DataVersion, topics, filter list."""
        import struct
        import zlib

        raw = zlib.decompress(self._body().encode_compressed())
        (dv_len,) = struct.unpack(">i", raw[:4])
        self.assertEqual(
            fastjson.loads(raw[4 : 4 + dv_len]), {"counter": 5, "timestamp": 1700000000000}
        )
        (count,) = struct.unpack(">i", raw[4 + dv_len : 8 + dv_len])
        self.assertEqual(count, 2)
        self.assertIn(b"T2 2 1 4 MULTI_TAG", raw)

    def test_compressed_garbage(self) -> None:
        """Data that does not inflate or is truncated raises BodyError."""
        import zlib

        self.assertRaises(BodyError, RegisterBrokerBody.decode_compressed, b"junk")
        self.assertRaises(BodyError, RegisterBrokerBody.decode_compressed, zlib.compress(b"\0\0"))
        bad = zlib.compress(b"\0\0\0\x02{}\0\0\0\x01\0\0\0\x03a b")
        self.assertRaises(BodyError, RegisterBrokerBody.decode_compressed, bad)
