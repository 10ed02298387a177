"""rmq-admin consumerStatus against a live broker and an rmq push consumer (307 forwarded)."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import SynchronousTestCase

from rmq.admin.cmd_consumer import plain, running_info_of
from rmq.client.config import ClientConfig
from rmq.client.consumer.push import ConsumeContext, PushConsumer, PushConsumerConfig
from rmq.client.model import ConsumeStatus
from rmq.common import fastjson
from rmq.common.message import MessageExt
from tests.admin.live import CLUSTER, LiveCase


class ConsumerStatusLiveTest(LiveCase):
    """consumerStatus with and without -i."""

    @defer.inlineCallbacks
    def start_consumer(self) -> Any:
        """An rmq push consumer of group SG on topic AdmStat; fires with its client id."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmStat", "-w", "2", "-r", "2")

        def listener(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeStatus:
            return ConsumeStatus.CONSUME_SUCCESS

        config = ClientConfig(namesrv_addr=self.namesrv, instance_name="stat")
        consumer = PushConsumer(reactor, PushConsumerConfig("SG"), config)
        consumer.subscribe("AdmStat", "TagA || TagB")
        consumer.register_listener(listener)
        yield defer.ensureDeferred(consumer.start())
        self.addCleanup(consumer.shutdown)
        for _ in range(200):
            status, _out, _err = yield self.admin("consumerConnection", "-g", "SG")
            if status == 0:
                return consumer.instance.client_id
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.fail("consumer never came online")

    @defer.inlineCallbacks
    def test_summary_lists_every_client(self) -> Any:
        """Without -i each online client answers 307 through the broker: one row each."""
        cid = yield self.start_consumer()
        out = yield self.admin_json("consumerStatus", "-g", "SG")
        [client] = out["clients"]
        self.assertEqual((client["clientId"], client["code"]), (cid, 0))
        info = client["runningInfo"]
        self.assertEqual(info["properties"]["consumerGroup"], "SG")
        self.assertEqual(
            sorted(s["topic"] for s in info["subscriptionSet"]), ["%RETRY%SG", "AdmStat"]
        )
        status, text, _err = yield self.admin("consumerStatus", "-g", "SG")
        self.assertEqual(status, 0)
        self.assertIn(cid, text)
        self.assertIn("OK", text)

    @defer.inlineCallbacks
    def test_detail_of_one_client(self) -> Any:
        """With -i the client's properties, subscription and queues are printed."""
        cid = yield self.start_consumer()
        status, text, err = yield self.admin("consumerStatus", "-g", "SG", "-i", cid)
        self.assertEqual(status, 0, err)
        self.assertIn("PROP_CLIENT_VERSION", text)
        self.assertIn("TagA || TagB", text)
        self.assertIn("#CommitOffset", text)

    @defer.inlineCallbacks
    def test_unknown_client(self) -> Any:
        """-i with a client that is not online exits 1 and names it."""
        yield self.start_consumer()
        status, _out, err = yield self.admin("consumerStatus", "-g", "SG", "-i", "ghost")
        self.assertEqual(status, 1)
        self.assertIn("ghost", err)

    @defer.inlineCallbacks
    def test_offline_group(self) -> Any:
        """A group nobody consumes in exits 1 with code 206."""
        status, _out, err = yield self.admin("consumerStatus", "-g", "nobody")
        self.assertEqual(status, 1)
        self.assertIn("CODE: 206", err)


class HelpersTest(SynchronousTestCase):
    def test_running_info_with_object_keys(self) -> None:
        """A C++-style body with object keys parses and becomes JSON-ready."""
        body = b'{"mqTable":{{"brokerName":"b","queueId":1,"topic":"T"}:{"commitOffset":4}}}'
        info = running_info_of(body)
        self.assertEqual(
            plain(info),
            {"mqTable": {'{"brokerName":"b","queueId":1,"topic":"T"}': {"commitOffset": 4}}},
        )
        self.assertIsInstance(next(iter(info["mqTable"])), fastjson.ObjectKey)

    def test_unreadable_running_info_kept_as_text(self) -> None:
        """A body that is not JSON at all is kept as its text."""
        self.assertEqual(running_info_of(b"<oops"), "<oops")
