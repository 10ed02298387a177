"""CONSUMER_SEND_MSG_BACK (36): golden request frames, retry through delay levels, DLQ."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.processor.sendback import register
from rmq.broker.subgroups import SubscriptionGroupConfig
from rmq.common.message import (
    DELAY,
    ORIGIN_MESSAGE_ID,
    RETRY_TOPIC,
    decode_message_ext,
    decode_properties,
    encode_properties,
)
from rmq.remoting.codec import decode_frame
from rmq.remoting.command import RemotingCommand
from tests.broker.features_helpers import FakeBroker, RecordingConnection, stored
from tests.vectors import read_vector


def vector(name: str) -> RemotingCommand:
    return decode_frame(read_vector(name)[4:])


class SendBackCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = FakeBroker(self.mktemp())
        register(self.broker.dispatcher, self.broker)  # type: ignore[arg-type]
        self.conn = RecordingConnection()

    def tearDown(self) -> None:
        self.broker.close()

    def call(self, request: RemotingCommand) -> RemotingCommand:
        self.broker.dispatcher.dispatch(self.conn, request)  # type: ignore[arg-type]
        return self.conn.responses.pop()

    def request(self, offset: int, group: str = "G", **ext: str) -> RemotingCommand:
        fields = {"offset": str(offset), "group": group, "delayLevel": "0", **ext}
        return RemotingCommand.request(36, fields)

    def queue(self, topic: str, qid: int = 0) -> list[Any]:
        res = self.broker.store.get_message("x", topic, qid, 0, 32)
        return [decode_message_ext(b)[0] for b in res.buffers]


class VectorTests(SendBackCase):
    def check_vector(self, req_name: str, resp_name: str, first_offset: int) -> None:
        if first_offset:
            pad = self.broker.put(stored("Pad", body=b"p" * (first_offset - 91 - 3)))
            self.assertEqual(pad.wrote_bytes, first_offset)
        request = vector(req_name)
        group = request.ext_fields["group"]
        res = self.broker.put(stored("CapTopic", props=encode_properties({"TAGS": "TagA"})))
        self.assertEqual(res.wrote_offset, first_offset)
        response = self.call(request)
        expected = vector(resp_name)
        self.assertEqual(
            (response.code, response.opaque, response.flag, response.ext_fields, response.remark),
            (expected.code, expected.opaque, expected.flag, expected.ext_fields, expected.remark),
        )
        parked = self.queue("SCHEDULE_TOPIC_XXXX", 2)
        self.assertEqual(len(parked), 1)
        props = decode_properties(parked[0].properties)
        self.assertEqual(props["REAL_TOPIC"], f"%RETRY%{group}")
        self.assertEqual(props[RETRY_TOPIC], "CapTopic")
        self.assertIsNotNone(self.broker.topics.get(f"%RETRY%{group}"))

    def test_cpp_short_header(self) -> None:
        """The C++ client's group/offset/delayLevel-only request is answered like the vector."""
        self.check_vector(
            "cpp-consumer_send_msg_back-request.bin",
            "broker-consumer_send_msg_back-response-accepted-by-cpp.bin",
            0,
        )

    def test_alions_full_header(self) -> None:
        """ali-ons' full header (originMsgId, maxReconsumeTimes...) is answered like the vector."""
        self.check_vector(
            "alions-consumer_send_msg_back-request.bin",
            "broker-consumer_send_msg_back-response-accepted-by-alions.bin",
            293,
        )


class FlowTests(SendBackCase):
    def test_unknown_offset(self) -> None:
        """An offset with no message answers SYSTEM_ERROR naming the offset."""
        response = self.call(self.request(999))
        self.assertEqual(response.code, 1)
        self.assertIn("999", response.remark or "")

    def test_retry_comes_back_after_delay(self) -> None:
        """With the schedule running the retry copy reaches %RETRY%G after level 3 (10 s)."""
        self.broker.schedule.start()  # type: ignore[union-attr]
        self.broker.put(stored("T", props=encode_properties({"TAGS": "A", "UNIQ_KEY": "U"})))
        self.assertEqual(self.call(self.request(0)).code, 0)
        self.broker.clock.pump([0.5] * 19)
        self.assertEqual(self.queue("%RETRY%G"), [])
        self.broker.clock.pump([0.5] * 3)
        [retry] = self.queue("%RETRY%G")
        props = decode_properties(retry.properties)
        self.assertEqual(retry.reconsume_times, 1)
        self.assertEqual(props[RETRY_TOPIC], "T")
        self.assertEqual(props["UNIQ_KEY"], "U")
        self.assertNotIn(DELAY, props)
        self.assertEqual(props[ORIGIN_MESSAGE_ID], "7F00000100002A9F0000000000000000")

    def test_dead_letter_after_group_max(self) -> None:
        """The group's retryMaxTimes decides when the message goes to %DLQ%G."""
        self.broker.subgroups.update(SubscriptionGroupConfig("G", retry_max_times=2))
        self.broker.schedule.start()  # type: ignore[union-attr]
        res = self.broker.put(stored("T", props=encode_properties({"TAGS": "A"})))
        offset = res.wrote_offset
        seen = []
        for _ in range(3):
            self.assertEqual(self.call(self.request(offset)).code, 0)
            self.broker.clock.pump([1.0] * 40)
            retries = self.queue("%RETRY%G")
            dlq = self.queue("%DLQ%G")
            latest = (retries + dlq)[-1]
            seen.append(latest.reconsume_times)
            offset = latest.commit_log_offset
        self.assertEqual(seen, [1, 2, 3])
        self.assertEqual(len(self.queue("%RETRY%G")), 2)
        [dead] = self.queue("%DLQ%G")
        self.assertEqual(decode_properties(dead.properties)[RETRY_TOPIC], "T")
        dlq_tc = self.broker.topics.get("%DLQ%G")
        self.assertEqual((dlq_tc.read_queue_nums, dlq_tc.perm), (1, 6))  # type: ignore[union-attr]

    def test_header_max_overrides_group(self) -> None:
        """maxReconsumeTimes in the header wins over the group's setting."""
        self.broker.put(stored("T"))
        self.assertEqual(self.call(self.request(0, maxReconsumeTimes="0")).code, 0)
        self.assertEqual(len(self.queue("%DLQ%G")), 1)

    def test_no_retry_queues_drops(self) -> None:
        """A group with retryQueueNums 0 is acknowledged and nothing is stored."""
        self.broker.subgroups.update(SubscriptionGroupConfig("G", retry_queue_nums=0))
        self.broker.put(stored("T"))
        self.assertEqual(self.call(self.request(0)).code, 0)
        self.assertEqual(self.queue("SCHEDULE_TOPIC_XXXX", 2), [])

    def test_unknown_group_without_autocreate(self) -> None:
        """With group auto-creation off an unknown group answers 26."""
        self.broker.config.auto_create_subscription_group = False
        self.broker.put(stored("T"))
        self.assertEqual(self.call(self.request(0, group="Nope")).code, 26)

    def test_broker_not_writable(self) -> None:
        """A broker without write permission answers 16."""
        self.broker.config.broker_permission = 4
        self.broker.put(stored("T"))
        self.assertEqual(self.call(self.request(0)).code, 16)
