"""Tests for rmq.broker.processor.admin: every admin code through the dispatcher."""

from __future__ import annotations

import os
from typing import Any

import attrs
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.clients import ClientChannelInfo
from rmq.broker.config import broker_properties_path
from rmq.broker.heartbeat import ConsumerData
from rmq.broker.processor import admin
from rmq.broker.processor.admin import format_properties, parse_properties
from rmq.broker.topics import TopicConfig
from rmq.common import fastjson
from rmq.filter.tags import SubscriptionData
from rmq.remoting.codec import decode_frame, encode
from rmq.remoting.codes import RequestCode as RC
from rmq.remoting.codes import ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.broker.admin_fixture import FakeBroker, FakeConnection
from tests.vectors import read_vector

TOPIC_EXT = {
    "topic": "Orders",
    "defaultTopic": "TBW102",
    "readQueueNums": "4",
    "writeQueueNums": "4",
    "perm": "6",
    "topicFilterType": "SINGLE_TAG",
    "topicSysFlag": "0",
    "order": "false",
}


def mq(topic: str, qid: int) -> fastjson.ObjectKey:
    return fastjson.ObjectKey.of({"brokerName": "broker-a", "queueId": qid, "topic": topic})


class AdminTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = FakeBroker(self.mktemp())
        self.addCleanup(self.broker.stop)
        self.dispatcher = self.broker.dispatcher
        admin.register(self.dispatcher, self.broker)  # type: ignore[arg-type]
        self.conn = FakeConnection()

    def call(
        self, code: int, ext: dict[str, str] | None = None, body: bytes | None = None
    ) -> RemotingCommand:
        req = RemotingCommand(code, ext_fields=dict(ext or {}), body=body, opaque=77)
        before = len(self.conn.sent)
        self.dispatcher.dispatch(self.conn, req)  # type: ignore[arg-type]
        self.assertEqual(len(self.conn.sent), before + 1)
        resp = self.conn.sent[-1]
        self.assertEqual(resp.opaque, 77)
        for value in resp.ext_fields.values():
            self.assertIsInstance(value, str)
        return resp

    def body(self, resp: RemotingCommand) -> Any:
        self.assertEqual(resp.code, ResponseCode.SUCCESS, resp.remark)
        assert resp.body is not None
        return fastjson.loads(resp.body)


class DefaultAndTopicTests(AdminTestCase):
    def test_unknown_code(self) -> None:
        """A code nobody handles gets REQUEST_CODE_NOT_SUPPORTED with Java's remark."""
        resp = self.call(9999)
        self.assertEqual(resp.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED)
        self.assertEqual(resp.remark, " request type 9999 not supported")

    def test_create_topic(self) -> None:
        """UPDATE_AND_CREATE_TOPIC stores the config and notifies listeners."""
        seen: list[TopicConfig | None] = []
        self.broker.topics.add_listener(seen.append)
        resp = self.call(RC.UPDATE_AND_CREATE_TOPIC, TOPIC_EXT)
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        expected = TopicConfig("Orders", 4, 4, 6)
        self.assertEqual(self.broker.topics.get("Orders"), expected)
        self.assertEqual(seen, [expected])

    def test_create_topic_bad_name(self) -> None:
        """Illegal or over-long names are refused with SYSTEM_ERROR and Java's remark."""
        resp = self.call(RC.UPDATE_AND_CREATE_TOPIC, {**TOPIC_EXT, "topic": "bad topic"})
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertIn("illegal characters", resp.remark or "")
        resp = self.call(RC.UPDATE_AND_CREATE_TOPIC, {**TOPIC_EXT, "topic": "x" * 128})
        self.assertIn("longer than topic max length", resp.remark or "")
        self.assertIsNone(self.broker.topics.get("bad topic"))

    def test_create_system_topic_refused(self) -> None:
        """System topics (including this broker's own) cannot be overwritten."""
        for name in ("TBW102", "broker-a", "rmq_sys_x"):
            resp = self.call(RC.UPDATE_AND_CREATE_TOPIC, {**TOPIC_EXT, "topic": name})
            self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
            self.assertEqual(resp.remark, f"The topic[{name}] is conflict with system topic.")

    def test_create_topic_missing_field(self) -> None:
        """A missing required header field is named in the error response."""
        ext = dict(TOPIC_EXT)
        del ext["perm"]
        resp = self.call(RC.UPDATE_AND_CREATE_TOPIC, ext)
        self.assertNotEqual(resp.code, ResponseCode.SUCCESS)
        self.assertIn("perm", resp.remark or "")

    def test_slave_refuses_changes(self) -> None:
        """On a slave, topic and group changes get the master-only remark."""
        self.broker.store_config = attrs.evolve(self.broker.store_config, broker_role="SLAVE")
        for code, ext in (
            (RC.UPDATE_AND_CREATE_TOPIC, TOPIC_EXT),
            (RC.DELETE_TOPIC_IN_BROKER, {"topic": "Orders"}),
            (RC.DELETE_SUBSCRIPTIONGROUP, {"groupName": "G"}),
        ):
            resp = self.call(code, ext)
            self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
            self.assertIn("slave broker", resp.remark or "")

    def test_delete_topic(self) -> None:
        """DELETE_TOPIC_IN_BROKER removes the topic and its queues; system topics stay."""
        self.call(RC.UPDATE_AND_CREATE_TOPIC, TOPIC_EXT)
        self.broker.put("Orders", 0, b"x")
        resp = self.call(RC.DELETE_TOPIC_IN_BROKER, {"topic": "Orders"})
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        self.assertIsNone(self.broker.topics.get("Orders"))
        self.assertNotIn("Orders", self.broker.store.topic_queue_table())
        resp = self.call(RC.DELETE_TOPIC_IN_BROKER, {"topic": "SCHEDULE_TOPIC_XXXX"})
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertIsNotNone(self.broker.topics.get("SCHEDULE_TOPIC_XXXX"))

    def test_get_all_topic_config(self) -> None:
        """GET_ALL_TOPIC_CONFIG returns the TopicConfigSerializeWrapper."""
        self.call(RC.UPDATE_AND_CREATE_TOPIC, TOPIC_EXT)
        body = self.body(self.call(RC.GET_ALL_TOPIC_CONFIG))
        self.assertEqual(body["topicConfigTable"]["Orders"]["writeQueueNums"], 4)
        self.assertEqual(body["dataVersion"], self.broker.topics.data_version.to_obj())

    def test_system_topic_list(self) -> None:
        """GET_SYSTEM_TOPIC_LIST_FROM_BROKER lists system topics as a TopicList."""
        body = self.body(self.call(RC.GET_SYSTEM_TOPIC_LIST_FROM_BROKER))
        self.assertIn("TBW102", body["topicList"])
        self.assertIn("broker-a", body["topicList"])

    def test_topic_stats(self) -> None:
        """GET_TOPIC_STATS_INFO gives a MessageQueue-keyed offset table per write queue."""
        self.call(RC.UPDATE_AND_CREATE_TOPIC, {**TOPIC_EXT, "writeQueueNums": "2"})
        self.broker.put("Orders", 1, b"a")
        self.broker.clock.advance(2)
        self.broker.put("Orders", 1, b"b")
        resp = self.call(RC.GET_TOPIC_STATS_INFO, {"topic": "Orders"})
        self.assertIn(b'{"brokerName":"broker-a","queueId":1,"topic":"Orders"}:{', resp.body or b"")
        table = self.body(resp)["offsetTable"]
        self.assertEqual(len(table), 2)
        self.assertEqual(
            table[mq("Orders", 1)],
            {"lastUpdateTimestamp": 1_700_000_002_000, "maxOffset": 2, "minOffset": 0},
        )
        self.assertEqual(table[mq("Orders", 0)]["lastUpdateTimestamp"], 0)

    def test_topic_stats_unknown_topic(self) -> None:
        """An unknown topic gets TOPIC_NOT_EXIST."""
        resp = self.call(RC.GET_TOPIC_STATS_INFO, {"topic": "Nope"})
        self.assertEqual(resp.code, ResponseCode.TOPIC_NOT_EXIST)
        self.assertEqual(resp.remark, "topic[Nope] not exist")


class GroupTests(AdminTestCase):
    def register_consumer(self, group: str = "G", topic: str = "Orders") -> ClientChannelInfo:
        conn = FakeConnection("10.0.0.9:4321")
        info = ClientChannelInfo(conn, "10.0.0.9@1", "CPP", 409, self.broker.clock.seconds())
        data = ConsumerData(
            group,
            "CONSUME_PASSIVELY",
            "CLUSTERING",
            "CONSUME_FROM_LAST_OFFSET",
            [SubscriptionData(topic, "*")],
        )
        self.broker.config.notify_consumer_ids_changed_enable = False
        self.broker.consumers.register(data, info)
        return info

    def test_create_and_delete_group(self) -> None:
        """Group create takes a JSON body; delete with removeOffset drops offsets too."""
        body = b'{"groupName":"G","retryMaxTimes":3,"consumeBroadcastEnable":false}'
        self.assertEqual(self.call(RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body).code, 0)
        cfg = self.broker.subgroups.get("G")
        assert cfg is not None
        self.assertEqual((cfg.retry_max_times, cfg.consume_broadcast_enable), (3, False))
        listed = self.body(self.call(RC.GET_ALL_SUBSCRIPTIONGROUP_CONFIG))
        self.assertEqual(listed["subscriptionGroupTable"]["G"]["retryMaxTimes"], 3)
        self.broker.offsets.commit("G", "Orders", 0, 5)
        resp = self.call(RC.DELETE_SUBSCRIPTIONGROUP, {"groupName": "G", "removeOffset": "true"})
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        self.assertIsNone(self.broker.subgroups.get("G"))
        self.assertEqual(self.broker.offsets.query("G", "Orders", 0), -1)

    def test_create_group_bad_body(self) -> None:
        """A body that is not a group config is refused, and nothing is stored."""
        resp = self.call(RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=b"[1,2]")
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        resp = self.call(RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=b"{oops")
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)

    def test_consume_stats(self) -> None:
        """GET_CONSUME_STATS compares broker and consumer offsets per read queue."""
        self.call(RC.UPDATE_AND_CREATE_TOPIC, {**TOPIC_EXT, "readQueueNums": "2"})
        for _ in range(3):
            self.broker.put("Orders", 0, b"m")
        self.broker.offsets.commit("G", "Orders", 0, 2)
        stats = self.body(self.call(RC.GET_CONSUME_STATS, {"consumerGroup": "G"}))
        self.assertEqual(stats["consumeTps"], 0.0)
        self.assertEqual(
            stats["offsetTable"][mq("Orders", 0)],
            {"brokerOffset": 3, "consumerOffset": 2, "lastTimestamp": 1_700_000_000_000},
        )
        self.assertEqual(stats["offsetTable"][mq("Orders", 1)]["consumerOffset"], 0)
        other = self.body(self.call(RC.GET_CONSUME_STATS, {"consumerGroup": "X", "topic": "Nope"}))
        self.assertEqual(other["offsetTable"], {})

    def test_consumer_connection_list(self) -> None:
        """GET_CONSUMER_CONNECTION_LIST lists channels and subscriptions; 206 when offline."""
        resp = self.call(RC.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": "G"})
        self.assertEqual(resp.code, ResponseCode.CONSUMER_NOT_ONLINE)
        self.assertEqual(resp.remark, "the consumer group[G] not online")
        self.register_consumer()
        body = self.body(self.call(RC.GET_CONSUMER_CONNECTION_LIST, {"consumerGroup": "G"}))
        self.assertEqual(
            body["connectionSet"],
            [
                {
                    "clientAddr": "10.0.0.9:4321",
                    "clientId": "10.0.0.9@1",
                    "language": "CPP",
                    "version": 409,
                }
            ],
        )
        self.assertEqual(body["consumeType"], "CONSUME_PASSIVELY")
        self.assertEqual(body["messageModel"], "CLUSTERING")
        self.assertEqual(body["subscriptionTable"]["Orders"]["subString"], "*")

    def test_producer_connection_list(self) -> None:
        """GET_PRODUCER_CONNECTION_LIST lists channels; SYSTEM_ERROR for an unknown group."""
        resp = self.call(RC.GET_PRODUCER_CONNECTION_LIST, {"producerGroup": "P"})
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(resp.remark, "the producer group[P] not exist")
        conn = FakeConnection("10.0.0.8:1")
        self.broker.producers.register("P", ClientChannelInfo(conn, "c1", "JAVA", 409, 0.0))
        body = self.body(self.call(RC.GET_PRODUCER_CONNECTION_LIST, {"producerGroup": "P"}))
        self.assertEqual(body["connectionSet"][0]["clientId"], "c1")
        self.assertEqual(body["connectionSet"][0]["clientAddr"], "10.0.0.8:1")

    def test_query_topic_consume_by_who(self) -> None:
        """Groups subscribed to the topic and groups with offsets on it are listed."""
        self.register_consumer("Live")
        self.broker.offsets.commit("Old", "Orders", 0, 1)
        body = self.body(self.call(RC.QUERY_TOPIC_CONSUME_BY_WHO, {"topic": "Orders"}))
        self.assertEqual(body["groupList"], ["Live", "Old"])

    def test_all_consumer_offset(self) -> None:
        """GET_ALL_CONSUMER_OFFSET returns consumerOffset.json with unquoted queue ids."""
        self.broker.offsets.commit("G", "Orders", 1, 9)
        resp = self.call(RC.GET_ALL_CONSUMER_OFFSET)
        self.assertIn(b"{1:9}", resp.body or b"")
        self.assertEqual(self.body(resp)["offsetTable"]["Orders@G"], {1: 9})

    def test_delay_offset_absent(self) -> None:
        """Without a delay service GET_ALL_DELAY_OFFSET answers SYSTEM_ERROR."""
        resp = self.call(RC.GET_ALL_DELAY_OFFSET)
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)


class OffsetTests(AdminTestCase):
    def setUp(self) -> None:
        super().setUp()
        for i in range(3):
            self.broker.put("T", 0, b"m")
            self.broker.clock.advance(10 + i)

    def test_max_min_offset(self) -> None:
        """GET_MAX_OFFSET and GET_MIN_OFFSET answer with a string offset."""
        resp = self.call(RC.GET_MAX_OFFSET, {"topic": "T", "queueId": "0"})
        self.assertEqual(resp.ext_fields, {"offset": "3"})
        resp = self.call(RC.GET_MIN_OFFSET, {"topic": "T", "queueId": "0"})
        self.assertEqual(resp.ext_fields, {"offset": "0"})
        resp = self.call(RC.GET_MAX_OFFSET, {"topic": "Other", "queueId": "5"})
        self.assertEqual(resp.ext_fields, {"offset": "0"})

    def test_search_by_timestamp(self) -> None:
        """SEARCH_OFFSET_BY_TIMESTAMP finds the first message stored at or after the time."""
        ext = {"topic": "T", "queueId": "0", "timestamp": str(1_700_000_010_000)}
        self.assertEqual(self.call(RC.SEARCH_OFFSET_BY_TIMESTAMP, ext).ext_fields["offset"], "1")
        ext["timestamp"] = "0"
        self.assertEqual(self.call(RC.SEARCH_OFFSET_BY_TIMESTAMP, ext).ext_fields["offset"], "0")

    def test_earliest_store_time(self) -> None:
        """GET_EARLIEST_MSG_STORETIME answers the first message's store time."""
        resp = self.call(RC.GET_EARLIEST_MSG_STORETIME, {"topic": "T", "queueId": "0"})
        self.assertEqual(resp.ext_fields, {"timestamp": "1700000000000"})

    def test_mistyped_queue_id(self) -> None:
        """A non-numeric queueId is refused naming the field; nothing crashes."""
        resp = self.call(RC.GET_MAX_OFFSET, {"topic": "T", "queueId": "zero"})
        self.assertNotEqual(resp.code, ResponseCode.SUCCESS)
        self.assertIn("queueId", resp.remark or "")

    def test_alions_vector(self) -> None:
        """The captured ali-ons GET_MAX_OFFSET is answered in the accepted response's shape."""
        req = decode_frame(read_vector("alions-get_max_offset-request.bin")[4:])
        accepted = decode_frame(
            read_vector("broker-get_max_offset-response-accepted-by-alions.bin")[4:]
        )
        self.broker.put("CapTopic", 0, b"x")
        self.dispatcher.dispatch(self.conn, req)  # type: ignore[arg-type]
        resp = self.conn.sent[-1]
        self.assertEqual((resp.code, resp.opaque, resp.flag), (0, req.opaque, accepted.flag))
        self.assertEqual(set(resp.ext_fields), set(accepted.ext_fields))
        self.assertEqual(resp.ext_fields["offset"], "1")
        self.assertEqual(decode_frame(encode(resp)[4:]).ext_fields, {"offset": "1"})


class ConfigTests(AdminTestCase):
    def test_properties_format(self) -> None:
        """Properties text round-trips and tolerates comments, blanks and ':'."""
        text = format_properties({"b": "2", "a": "x=y"})
        self.assertEqual(text, "a=x=y\nb=2\n")
        self.assertEqual(
            parse_properties(text + "# c\n\n c : 3 \n"), {"a": "x=y", "b": "2", "c": "3"}
        )

    def test_get_broker_config(self) -> None:
        """GET_BROKER_CONFIG returns every key as properties with a DataVersion header."""
        resp = self.call(RC.GET_BROKER_CONFIG)
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        props = parse_properties((resp.body or b"").decode())
        self.assertEqual(props["brokerName"], "broker-a")
        self.assertEqual(props["autoCreateTopicEnable"], "true")
        self.assertIn("flushDiskType", props)
        version = fastjson.loads(resp.ext_fields["version"])
        self.assertEqual(set(version), {"counter", "timestamp"})

    def test_update_broker_config(self) -> None:
        """UPDATE_BROKER_CONFIG applies keys at runtime and bumps the version."""
        before = fastjson.loads(self.call(RC.GET_BROKER_CONFIG).ext_fields["version"])
        body = b"autoCreateTopicEnable=false\nmaxMessageSize=2048\n"
        self.assertEqual(self.call(RC.UPDATE_BROKER_CONFIG, body=body).code, 0)
        self.assertFalse(self.broker.config.auto_create_topic_enable)
        self.assertEqual(self.broker.store_config.max_message_size, 2048)
        self.assertEqual(self.broker.store.config.max_message_size, 2048)
        after = fastjson.loads(self.call(RC.GET_BROKER_CONFIG).ext_fields["version"])
        self.assertEqual(after["counter"], before["counter"] + 1)

    def test_update_broker_config_refusals(self) -> None:
        """Unknown keys and bad values change nothing; black-listed keys get NO_PERMISSION."""
        resp = self.call(RC.UPDATE_BROKER_CONFIG, body=b"noSuchKey=1\nbrokerPermission=4\n")
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertIn("noSuchKey", resp.remark or "")
        self.assertEqual(self.broker.config.broker_permission, 6)
        resp = self.call(RC.UPDATE_BROKER_CONFIG, body=b"brokerPermission=abc\n")
        self.assertIn("brokerPermission", resp.remark or "")
        resp = self.call(RC.UPDATE_BROKER_CONFIG, body=b"brokerConfigPath=/etc/x\n")
        self.assertEqual(resp.code, ResponseCode.NO_PERMISSION)

    def test_runtime_info(self) -> None:
        """GET_BROKER_RUNTIME_INFO is a KVTable of strings with the keys tools read."""
        self.broker.put("T", 0, b"m")
        table = self.body(self.call(RC.GET_BROKER_RUNTIME_INFO))["table"]
        for key in (
            "brokerVersionDesc",
            "msgPutTotalTodayNow",
            "commitLogMaxOffset",
            "sendThreadPoolQueueCapacity",
            "commitLogDirCapacity",
        ):
            self.assertIn(key, table)
        self.assertTrue(all(isinstance(v, str) for v in table.values()))
        self.assertNotEqual(table["commitLogMaxOffset"], "0")
        self.assertEqual(table["msgPutTotalTodayNow"], "1")
        self.assertRegex(table["commitLogDirCapacity"], r"^Total : .+, Free : .+\.$")

    def test_human_bytes(self) -> None:
        """Byte counts print as Java's humanReadableByteCount does."""
        self.assertEqual(admin.human_bytes(512), "512 B")
        self.assertEqual(admin.human_bytes(1536), "1.5 KiB")
        self.assertEqual(admin.human_bytes(3 * 1024**3), "3.0 GiB")

    def test_clean_triggers(self) -> None:
        """CLEAN_EXPIRED_CONSUMEQUEUE and CLEAN_UNUSED_TOPIC answer success; unused queues go."""
        self.broker.put("Gone", 0, b"x")
        self.assertEqual(self.call(RC.CLEAN_EXPIRED_CONSUMEQUEUE).code, 0)
        self.assertIn("Gone", self.broker.store.topic_queue_table())
        self.assertEqual(self.call(RC.CLEAN_UNUSED_TOPIC).code, 0)
        self.assertNotIn("Gone", self.broker.store.topic_queue_table())

    def test_clean_expired_consume_queue_removes_expired(self) -> None:
        """CLEAN_EXPIRED_CONSUMEQUEUE destroys a queue whose data left the CommitLog."""
        for _ in range(80):  # all in the first 64 KiB CommitLog file
            self.broker.put("Expired", 0, b"x" * 600)
        for _ in range(30):  # runs into the second file
            self.broker.put("Kept", 0, b"x" * 600)
        self.broker.store.commitlog.queue.delete_first(1)
        self.assertEqual(self.call(RC.CLEAN_EXPIRED_CONSUMEQUEUE).code, 0)
        self.assertEqual(set(self.broker.store.topic_queue_table()), {"Kept"})


class ConfigRangeRefusalTests(AdminTestCase):
    def test_out_of_range_value_changes_nothing(self) -> None:
        """An in-type but out-of-range value is refused; nothing goes live or to disk."""

        body = b"autoCreateTopicEnable=false\nbrokerPermission=9\n"
        resp = self.call(RC.UPDATE_BROKER_CONFIG, body=body)
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertIn("brokerPermission", resp.remark or "")
        self.assertEqual(self.broker.config.broker_permission, 6)
        self.assertTrue(self.broker.config.auto_create_topic_enable)
        props = parse_properties((self.call(RC.GET_BROKER_CONFIG).body or b"").decode())
        self.assertEqual(props["brokerPermission"], "6")
        path = broker_properties_path(self.broker.config, self.broker.store_config)
        self.assertFalse(os.path.exists(path))
