"""plan_send_back: retry topic, rising delay level, DLQ after maxReconsumeTimes, kept properties."""

from __future__ import annotations

import random

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.retry import plan_send_back
from rmq.common.message import (
    DELAY,
    ORIGIN_MESSAGE_ID,
    RETRY_TOPIC,
    WAIT,
    MessageExt,
    encode_properties,
)

HOST = ("127.0.0.1", 10911)


def failed(reconsume: int = 0, props: dict[str, str] | None = None, topic: str = "T") -> MessageExt:
    """A stored message a consumer failed."""
    base = {"TAGS": "TagA", "UNIQ_KEY": "U1", **(props or {})}
    return MessageExt(
        topic=topic,
        body=b"payload",
        queue_id=2,
        flag=7,
        properties=encode_properties(base),
        commit_log_offset=4096,
        sys_flag=0,
        born_timestamp=123,
        born_host=("10.0.0.2", 5555),
        store_host=HOST,
        reconsume_times=reconsume,
    )


class PlanTests(SynchronousTestCase):
    def plan(self, msg: MessageExt, level: int = 0, max_times: int = 16, queues: int = 1) -> object:
        return plan_send_back(msg, "G", level, max_times, queues, HOST, random.Random(1))

    def test_first_retry(self) -> None:
        """A first failure goes to %RETRY%G at level 3 with reconsumeTimes 1."""
        plan = plan_send_back(failed(), "G", 0, 16, 1, HOST)
        m = plan.message
        self.assertFalse(plan.dead_letter)
        self.assertEqual((m.topic, m.queue_id, m.reconsume_times), ("%RETRY%G", 0, 1))
        self.assertEqual(m.properties[DELAY], "3")
        self.assertEqual(m.properties[RETRY_TOPIC], "T")
        self.assertEqual(m.properties[WAIT], "false")
        self.assertEqual(m.properties[ORIGIN_MESSAGE_ID], "7F00000100002A9F0000000000001000")

    def test_rising_level(self) -> None:
        """Level 0 from the consumer means 3 + reconsumeTimes."""
        plan = plan_send_back(failed(reconsume=4), "G", 0, 16, 1, HOST)
        self.assertEqual(plan.delay_level, 7)
        self.assertEqual(plan.message.reconsume_times, 5)

    def test_explicit_level(self) -> None:
        """A positive level from the consumer is used as is."""
        plan = plan_send_back(failed(reconsume=4), "G", 2, 16, 1, HOST)
        self.assertEqual(plan.message.properties[DELAY], "2")

    def test_dead_letter_at_max(self) -> None:
        """reconsumeTimes >= max sends the message to %DLQ%G without delay."""
        plan = plan_send_back(failed(reconsume=3, props={DELAY: "5"}), "G", 0, 3, 1, HOST)
        self.assertTrue(plan.dead_letter)
        self.assertEqual((plan.message.topic, plan.message.queue_id), ("%DLQ%G", 0))
        self.assertNotIn(DELAY, plan.message.properties)
        self.assertEqual(plan.message.reconsume_times, 4)

    def test_dead_letter_on_negative_level(self) -> None:
        """delayLevel -1 goes straight to the DLQ."""
        plan = plan_send_back(failed(), "G", -1, 16, 1, HOST)
        self.assertTrue(plan.dead_letter)

    def test_origin_and_retry_topic_kept(self) -> None:
        """A message already retried keeps its first topic and origin id."""
        msg = failed(
            reconsume=1, props={RETRY_TOPIC: "Orig", ORIGIN_MESSAGE_ID: "ABC"}, topic="%RETRY%G"
        )
        plan = plan_send_back(msg, "G", 0, 16, 1, HOST)
        self.assertEqual(plan.message.properties[RETRY_TOPIC], "Orig")
        self.assertEqual(plan.message.properties[ORIGIN_MESSAGE_ID], "ABC")

    def test_body_flag_born_kept(self) -> None:
        """Body, flag, born time and host survive; the store host is the broker's."""
        m = plan_send_back(failed(), "G", 0, 16, 1, ("127.0.0.9", 1)).message
        self.assertEqual((m.body, m.flag, m.born_timestamp), (b"payload", 7, 123))
        self.assertEqual(m.born_host, ("10.0.0.2", 5555))
        self.assertEqual(m.store_host, ("127.0.0.9", 1))

    def test_queue_among_retry_queues(self) -> None:
        """The retry queue is picked among the group's retryQueueNums."""
        rand = random.Random(3)
        qids = {
            plan_send_back(failed(), "G", 0, 16, 4, HOST, rand).message.queue_id for _ in range(40)
        }
        self.assertEqual(qids, {0, 1, 2, 3})
