"""Audit fixes: short polling ignores arrivals, retry sends of unknown groups, offset flushes."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import BrokerConfig
from rmq.broker.controller import BrokerController
from rmq.broker.persist import synchronous_runner
from rmq.common import fastjson
from rmq.common.message import decode_messages
from rmq.remoting.codes import ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import (
    FakeConnection,
    call,
    make_broker,
    small_store_config,
    vector_command,
)

SEND = "cpp-send_message-request.bin"  # CapTopic queue 0
PUSH_PULL = "cpp-pull_message-push-request.bin"  # CapPushGroup, CapTopic q0 offset 0, suspend


def retry_send(group: str, reconsume: int = 0) -> RemotingCommand:
    """A captured send redirected to ``%RETRY%<group>`` queue 0."""
    req = vector_command(SEND)
    req.ext_fields["topic"] = "%RETRY%" + group
    req.ext_fields["reconsumeTimes"] = str(reconsume)
    return req


class ShortPollingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self, longPollingEnable="false", shortPollingTimeMills="1000")
        self.producer = FakeConnection("127.0.0.1:50000")
        self.consumer = FakeConnection("127.0.0.1:50001")
        self.assertEqual(call(self.broker, self.producer, vector_command(SEND)).code, 0)
        self.held = vector_command(PUSH_PULL)
        self.held.opaque = 778
        self.held.ext_fields["queueOffset"] = "1"

    def test_arrival_does_not_wake_short_polled_pull(self) -> None:
        """Short polling: a held pull ignores arrivals and answers at shortPollingTimeMills."""
        self.broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        self.assertEqual(call(self.broker, self.producer, vector_command(SEND)).code, 0)
        self.assertEqual(self.consumer.responses, [])
        self.assertEqual(self.broker.longpoll.count, 1)
        self.broker.clock.advance(0.9)
        self.assertEqual(self.consumer.responses, [])
        self.broker.clock.advance(0.2)
        [resp] = self.consumer.responses
        self.assertEqual((resp.opaque, resp.code), (778, ResponseCode.SUCCESS))
        self.assertEqual(len(decode_messages(resp.body or b"")), 1)

    def test_runtime_switch_to_long_polling_wakes_on_arrival(self) -> None:
        """Turning longPollingEnable on at runtime makes arrivals wake held pulls at once."""
        self.broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        self.broker.config.long_polling_enable = True
        call(self.broker, self.producer, vector_command(SEND))
        self.assertEqual([r.code for r in self.consumer.responses], [ResponseCode.SUCCESS])
        self.assertEqual(self.broker.clock.seconds(), 0)


class RetrySendUnknownGroupTests(SynchronousTestCase):
    def test_unknown_group_refused(self) -> None:
        """A send to %RETRY% of an unknown group, no auto-create: code 26 and nothing stored."""
        broker = make_broker(self, autoCreateSubscriptionGroup="false")
        resp = call(broker, FakeConnection(), retry_send("NoSuchGroup"))
        self.assertEqual(resp.code, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST)
        self.assertIn("subscription group not exist, NoSuchGroup", resp.remark or "")
        self.assertEqual(broker.store.get_max_offset_in_queue("%RETRY%NoSuchGroup", 0), 0)
        self.assertIsNone(broker.subgroups.get("NoSuchGroup"))

    def test_existing_retry_topic_still_checks_group(self) -> None:
        """The group check runs even when the retry topic already exists (and for the DLQ path)."""
        broker = make_broker(self, autoCreateSubscriptionGroup="false")
        call(broker, FakeConnection(), retry_send("Gone"))
        self.assertIsNotNone(broker.topics.get("%RETRY%Gone"))
        for reconsume in (0, 20):
            resp = call(broker, FakeConnection(), retry_send("Gone", reconsume))
            self.assertEqual(resp.code, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST)
        self.assertIsNone(broker.topics.get("%DLQ%Gone"))

    def test_auto_created_group_accepted(self) -> None:
        """With autoCreateSubscriptionGroup the group is created and the retry send stored."""
        broker = make_broker(self)
        resp = call(broker, FakeConnection(), retry_send("NewGroup"))
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        self.assertIsNotNone(broker.subgroups.get("NewGroup"))
        self.assertEqual(broker.store.get_max_offset_in_queue("%RETRY%NewGroup", 0), 1)


class OffsetFlushTimerTests(SynchronousTestCase):
    def setUp(self) -> None:
        root = tempfile.mkdtemp(prefix="rmq-offset-timer-")
        self.addCleanup(shutil.rmtree, root, True)
        store = small_store_config(root)
        config = BrokerConfig.from_mapping({"brokerName": "broker-a", "brokerIP1": "127.0.0.1"})
        self.clock = MemoryReactorClock()
        self.broker = BrokerController(config, store, self.clock, runner=synchronous_runner)
        started = self.broker.start("tcp:0:interface=127.0.0.1")
        self.successResultOf(started)
        self.addCleanup(lambda: self.successResultOf(self.broker.stop()))
        self.path = os.path.join(root, "config", "consumerOffset.json")

    def stored_offset(self) -> object:
        """The offset of G on T queue 0 in consumerOffset.json, or None."""
        if not os.path.exists(self.path):
            return None
        with open(self.path, "rb") as f:
            table = fastjson.loads(f.read()).get("offsetTable", {})
        return table.get("T@G", {}).get(0)

    def test_offsets_written_every_five_seconds(self) -> None:
        """A committed offset reaches consumerOffset.json at the 5 s flush, not before."""
        self.broker.offsets.commit("G", "T", 0, 42)
        self.clock.advance(4.9)
        self.assertIsNone(self.stored_offset())
        self.clock.advance(0.2)
        self.assertEqual(self.stored_offset(), 42)
        self.broker.offsets.commit("G", "T", 0, 43)
        self.clock.advance(5)
        self.assertEqual(self.stored_offset(), 43)
