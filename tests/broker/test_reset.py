"""INVOKE_BROKER_TO_RESET_OFFSET (222): targets by time, force rule, push 220, stored offsets."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.clients import ClientChannelInfo
from rmq.broker.heartbeat import ConsumerData
from rmq.broker.processor.reset import register
from rmq.broker.topics import TopicConfig
from rmq.common import fastjson
from rmq.filter.tags import SubscriptionData
from rmq.remoting.command import RemotingCommand
from tests.broker.features_helpers import FakeBroker, RecordingConnection, stored


class ResetTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = FakeBroker(self.mktemp())
        self.broker.topics.update(TopicConfig("T", read_queue_nums=2, write_queue_nums=2))
        register(self.broker.dispatcher, self.broker)  # type: ignore[arg-type]
        self.admin = RecordingConnection("127.0.0.1:60000")
        self.consumer = RecordingConnection("127.0.0.1:60001")
        clock = self.broker.clock
        self.t0 = int(clock.seconds() * 1000)
        for i in range(4):  # queue 0: offsets 0..3 one second apart; queue 1 stays empty
            self.broker.put(stored("T", 0, b"m%d" % i))
            clock.advance(1)
        self.broker.offsets.commit("G", "T", 0, 3)
        self.broker.offsets.commit("G", "T", 1, 0)

    def tearDown(self) -> None:
        self.broker.close()

    def online(self) -> None:
        data = ConsumerData(
            "G",
            "CONSUME_PASSIVELY",
            "CLUSTERING",
            "CONSUME_FROM_LAST_OFFSET",
            [SubscriptionData("T")],
        )
        self.broker.consumers.register(
            data, ClientChannelInfo(self.consumer, "c1", "JAVA", 409, 0.0)
        )

    def reset(self, timestamp: int, force: bool = True, language: str = "JAVA") -> RemotingCommand:
        ext = {
            "topic": "T",
            "group": "G",
            "timestamp": str(timestamp),
            "isForce": str(force).lower(),
        }
        req = RemotingCommand.request(222, ext, language=language)
        self.broker.dispatcher.dispatch(self.admin, req)  # type: ignore[arg-type]
        return self.admin.responses.pop()

    def pushes(self) -> list[RemotingCommand]:
        return [c for c in self.consumer.oneway if c.code == 220]

    def test_reset_to_timestamp(self) -> None:
        """Offsets move to the message stored at the timestamp and are pushed and stored."""
        self.online()
        response = self.reset(self.t0 + 1000)
        self.assertEqual(response.code, 0)
        key0 = fastjson.ObjectKey.of({"brokerName": "broker-a", "queueId": 0, "topic": "T"})
        self.assertEqual(fastjson.loads(response.body or b"")["offsetTable"][key0], 1)
        [push] = self.pushes()
        self.assertEqual(push.ext_fields["group"], "G")
        self.assertEqual(push.ext_fields["isForce"], "true")
        self.assertIn(b'{"brokerName":"broker-a","queueId":0,"topic":"T"}:1', push.body or b"")
        self.assertEqual(self.broker.offsets.query("G", "T", 0), 1)

    def test_not_forced_keeps_smaller_current(self) -> None:
        """Without isForce a target beyond the committed offset keeps the committed one."""
        self.online()
        self.broker.offsets.commit("G", "T", 0, 1)
        self.reset(-1, force=False)
        self.assertEqual(self.broker.offsets.query("G", "T", 0), 1)

    def test_cpp_admin_gets_list_body(self) -> None:
        """A CPP admin request pushes ResetOffsetBodyForC (a list)."""
        self.online()
        self.reset(-1, language="CPP")
        body = fastjson.loads(self.pushes()[0].body or b"")
        self.assertEqual(
            body["offsetTable"][0],
            {"brokerName": "broker-a", "offset": 4, "queueId": 0, "topic": "T"},
        )

    def test_no_consumer_online(self) -> None:
        """Without live consumers the answer is CONSUMER_NOT_ONLINE (206)."""
        self.assertEqual(self.reset(-1).code, 206)

    def test_unknown_group(self) -> None:
        """A group without committed offsets is refused with code 1."""
        self.broker.offsets.remove_group("G")
        self.online()
        response = self.reset(-1)
        self.assertEqual(response.code, 1)
        self.assertIn("G", response.remark or "")

    def test_unknown_topic(self) -> None:
        """A topic this broker does not have is refused with code 1."""
        req = RemotingCommand.request(
            222, {"topic": "Nope", "group": "G", "timestamp": "-1", "isForce": "true"}
        )
        self.broker.dispatcher.dispatch(self.admin, req)  # type: ignore[arg-type]
        self.assertEqual(self.admin.responses.pop().code, 1)
