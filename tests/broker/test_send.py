"""Send processor: every captured send request, response shapes, checks and error codes."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from rmq.common.message import decode_message_ext, decode_offset_msg_id
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import FakeConnection, call, make_broker, vector_command

SEND_VECTORS = [
    "cpp-send_message-request.bin",
    "cpp-send_message-async-request.bin",
    "cpp-send_message-oneway-request.bin",
    "cpp-send_message-compressed-request.bin",
    "cpp-send_message-4095-uncompressed-request.bin",
    "cpp-send_message-4096-compressed-request.bin",
    "cpp-send_message-delay-request.bin",
    "alions-send_message_v2-request.bin",
    "alions-send_message_v2-compressed-request.bin",
    "alions-send_message_v2-4096-compressed-request.bin",
    "alions-send_message_v2-delay-request.bin",
]


class SendTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.conn = FakeConnection()

    def test_every_send_vector_is_stored_and_answered_with_strings(self) -> None:
        """Each captured send gets code 0 with string msgId/queueId/queueOffset/region/trace."""
        for name in SEND_VECTORS:
            req = vector_command(name)
            resp = call(self.broker, self.conn, req)
            self.assertEqual(resp.code, 0, f"{name}: {resp.remark}")
            ext = resp.ext_fields
            for key in ("msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"):
                self.assertIsInstance(ext[key], str, key)
            self.assertEqual(ext["MSG_REGION"], "DefaultRegion")
            self.assertEqual(ext["TRACE_ON"], "true")
            ip, port, offset = decode_offset_msg_id(ext["msgId"])
            self.assertEqual((ip, port), self.broker.store_host)
            raw = self.broker.store.look_message_by_offset(offset)
            msg, _ = decode_message_ext(raw)
            self.assertEqual(msg.body, req.body, name)
            # a delayed message is parked in SCHEDULE_TOPIC_XXXX; the answer names the real queue
            real_qid = msg.properties_dict.get("REAL_QID", str(msg.queue_id))
            self.assertEqual(real_qid, ext["queueId"])

    def test_compressed_body_stored_as_sent(self) -> None:
        """A zlib body keeps its bytes and sysFlag bit 0 in the store."""
        req = vector_command("cpp-send_message-compressed-request.bin")
        resp = call(self.broker, self.conn, req)
        _, _, offset = decode_offset_msg_id(resp.ext_fields["msgId"])
        msg, _ = decode_message_ext(self.broker.store.look_message_by_offset(offset))
        self.assertEqual(msg.body, req.body)
        self.assertEqual(msg.sys_flag & 1, 1)

    def test_batch_on_code_10_gives_comma_joined_ids(self) -> None:
        """C++ batches (code 10, batch=1) store each member and join the ids with commas."""
        resp = call(self.broker, self.conn, vector_command("cpp-send_message-batch-request.bin"))
        self.assertEqual(resp.code, 0, resp.remark)
        ids = resp.ext_fields["msgId"].split(",")
        self.assertEqual(len(ids), 2)
        offsets = [decode_offset_msg_id(i)[2] for i in ids]
        self.assertLess(offsets[0], offsets[1])

    def test_batch_to_retry_topic_refused(self) -> None:
        """A batch to %RETRY% is MESSAGE_ILLEGAL, even past maxReconsumeTimes (never to the DLQ)."""
        for reconsume in ("0", "99"):
            req = vector_command("cpp-send_message-batch-request.bin")
            req.ext_fields["topic"] = "%RETRY%G"
            req.ext_fields["reconsumeTimes"] = reconsume
            resp = call(self.broker, self.conn, req)
            self.assertEqual(resp.code, 13, reconsume)
            self.assertEqual(resp.remark, "batch request does not support retry group %RETRY%G")
        self.assertIsNone(self.broker.topics.get("%DLQ%G"))

    def test_topic_auto_created_from_tbw102(self) -> None:
        """An unknown topic is created with min(client queues, template) queues."""
        call(self.broker, self.conn, vector_command("cpp-send_message-request.bin"))
        tc = self.broker.topics.get("CapTopic")
        assert tc is not None
        self.assertEqual(tc.write_queue_nums, 4)

    def test_topic_not_exist_when_auto_create_off(self) -> None:
        """With autoCreateTopicEnable=false an unknown topic gets code 17."""
        broker = make_broker(self, autoCreateTopicEnable="false")
        resp = call(broker, self.conn, vector_command("cpp-send_message-request.bin"))
        self.assertEqual(resp.code, 17)
        self.assertIn("CapTopic", resp.remark or "")

    def test_broker_without_write_permission(self) -> None:
        """brokerPermission 4 (read only) refuses sends with NO_PERMISSION."""
        broker = make_broker(self, brokerPermission=4)
        resp = call(broker, self.conn, vector_command("cpp-send_message-request.bin"))
        self.assertEqual(resp.code, 16)

    def test_topic_without_write_permission(self) -> None:
        """A read-only topic refuses sends with NO_PERMISSION."""
        from rmq.broker.topics import TopicConfig

        self.broker.topics.update(TopicConfig("CapTopic", 4, 4, perm=4))
        resp = call(self.broker, self.conn, vector_command("cpp-send_message-request.bin"))
        self.assertEqual(resp.code, 16)

    def test_queue_id_out_of_range(self) -> None:
        """queueId beyond the topic's queues is SYSTEM_ERROR with a remark naming it."""
        req = vector_command("cpp-send_message-request.bin")
        req.ext_fields["queueId"] = "99"
        resp = call(self.broker, self.conn, req)
        self.assertEqual(resp.code, 1)
        self.assertIn("queueId[99]", resp.remark or "")

    def test_message_too_large(self) -> None:
        """A body over maxMessageSize is MESSAGE_ILLEGAL (13)."""
        req = vector_command("cpp-send_message-request.bin")
        req.body = b"x" * (4 * 1024 * 1024 + 1)
        resp = call(self.broker, self.conn, req)
        self.assertEqual(resp.code, 13)

    def test_missing_header_field_is_named(self) -> None:
        """A missing required field answers an error naming it; the handler keeps working."""
        req = vector_command("alions-send_message_v2-request.bin")
        del req.ext_fields["b"]
        resp = call(self.broker, self.conn, req)
        self.assertNotEqual(resp.code, 0)
        self.assertIn("'b'", resp.remark or "")
        ok = call(self.broker, self.conn, vector_command("alions-send_message_v2-request.bin"))
        self.assertEqual(ok.code, 0)

    def test_forbidden_system_topic(self) -> None:
        """Sending to SCHEDULE_TOPIC_XXXX is refused."""
        req = vector_command("cpp-send_message-request.bin")
        req.ext_fields["topic"] = "SCHEDULE_TOPIC_XXXX"
        resp = call(self.broker, self.conn, req)
        self.assertNotEqual(resp.code, 0)

    def test_cluster_property_added(self) -> None:
        """The stored properties carry CLUSTER and keep the user's properties."""
        resp = call(self.broker, self.conn, vector_command("cpp-send_message-request.bin"))
        _, _, offset = decode_offset_msg_id(resp.ext_fields["msgId"])
        msg, _ = decode_message_ext(self.broker.store.look_message_by_offset(offset))
        props = msg.properties_dict
        self.assertEqual(props["CLUSTER"], "DefaultCluster")
        self.assertEqual(props["userProp"], "uval")
        self.assertEqual(props["TAGS"], "TagA")

    def test_delay_goes_through_schedule_hook(self) -> None:
        """With broker.schedule set, a DELAY>0 send is transformed by it before storing."""
        seen: list[object] = []

        class Hook:
            def transform(self, msg: object) -> object:
                seen.append(msg)
                return msg

        self.broker.schedule = Hook()
        call(self.broker, self.conn, vector_command("cpp-send_message-request.bin"))
        self.assertEqual(seen, [])
        call(self.broker, self.conn, vector_command("cpp-send_message-delay-request.bin"))
        self.assertEqual(len(seen), 1)

    def test_unused_request_type(self) -> None:
        """The response carries the request's opaque."""
        req = vector_command("cpp-send_message-request.bin")
        req.opaque = 4242
        resp = call(self.broker, self.conn, req)
        self.assertEqual(resp.opaque, 4242)
        self.assertIsInstance(resp, RemotingCommand)
