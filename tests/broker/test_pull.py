"""Pull processor and long polling, driven by captured pull/heartbeat/offset frames."""

from __future__ import annotations

import attrs
from twisted.trial.unittest import SynchronousTestCase

from rmq.common import fastjson
from rmq.common.message import decode_messages
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import FakeConnection, call, make_broker, vector_command

PUSH_PULL = "cpp-pull_message-push-request.bin"  # CapPushGroup, CapTopic q0 offset 0, sysFlag 6
PULL_PULL = "cpp-pull_message-pullconsumer-request.bin"  # sysFlag 4, no suspend
ALIONS_PULL = "alions-pull_message-request.bin"  # subscription 'TagA || TagB'


class PullTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.producer = FakeConnection("127.0.0.1:50000")
        self.consumer = FakeConnection("127.0.0.1:50001")

    def send(self, vector: str = "cpp-send_message-request.bin", queue: int = 0) -> None:
        req = vector_command(vector)
        key = "queueId" if "queueId" in req.ext_fields else "e"
        req.ext_fields[key] = str(queue)
        self.assertEqual(call(self.broker, self.producer, req).code, 0)

    def test_found_response_shape(self) -> None:
        """A pull with data answers 0, string offsets and the stored records as body."""
        self.send()
        self.send()
        resp = call(self.broker, self.consumer, vector_command(PULL_PULL))
        self.assertEqual(resp.code, 0)
        self.assertEqual(
            resp.ext_fields,
            {
                "suggestWhichBrokerId": "0",
                "nextBeginOffset": "2",
                "minOffset": "0",
                "maxOffset": "2",
            },
        )
        msgs = decode_messages(resp.body or b"")
        self.assertEqual([m.queue_offset for m in msgs], [0, 1])
        self.assertEqual(msgs[0].properties_dict["KEYS"], "KeyA")

    def test_unknown_queue_not_found_without_suspend(self) -> None:
        """No data and no suspend bit: PULL_NOT_FOUND with offsets as strings."""
        self.send(queue=1)
        resp = call(self.broker, self.consumer, vector_command(PULL_PULL))
        self.assertEqual(resp.code, 19)
        self.assertEqual(resp.ext_fields["nextBeginOffset"], "0")
        self.assertEqual(resp.ext_fields["maxOffset"], "0")

    def test_offset_overflow_badly_moves(self) -> None:
        """An offset past the max answers PULL_OFFSET_MOVED; the queue still starts at 0, so
        nextBeginOffset is 0 (RocketMQ answers max only once the queue's min moved on)."""
        self.send()
        req = vector_command(PULL_PULL)
        req.ext_fields["queueOffset"] = "5"
        resp = call(self.broker, self.consumer, req)
        self.assertEqual(resp.code, 21)
        self.assertEqual(resp.ext_fields["nextBeginOffset"], "0")

    def test_offset_moved_stores_event(self) -> None:
        """A master's PULL_OFFSET_MOVED stores an OffsetMovedEvent tagged with the group."""
        self.send()
        req = vector_command(PULL_PULL)
        req.ext_fields["queueOffset"] = "5"
        call(self.broker, self.consumer, req)
        store = self.broker.store
        self.assertEqual(store.get_max_offset_in_queue("OFFSET_MOVED_EVENT", 0), 1)
        got = store.get_message("g", "OFFSET_MOVED_EVENT", 0, 0, 1)
        event = decode_messages(b"".join(bytes(b) for b in got.buffers))[0]
        group, topic = req.ext_fields["consumerGroup"], req.ext_fields["topic"]
        self.assertEqual(event.properties_dict["TAGS"], group)
        self.assertEqual(event.properties_dict["KEYS"], group)
        body = fastjson.loads(event.body)
        self.assertEqual(
            body,
            {
                "consumerGroup": group,
                "messageQueue": {"brokerName": "broker-a", "queueId": 0, "topic": topic},
                "offsetNew": 0,
                "offsetRequest": 5,
            },
        )

    def test_slave_offset_moved_retries_without_event(self) -> None:
        """A slave answers 20 with the request offset and stores no event (REFERENCE 6.11)."""
        self.send()
        self.broker.store_config = attrs.evolve(self.broker.store_config, broker_role="SLAVE")
        req = vector_command(PULL_PULL)
        req.ext_fields["queueOffset"] = "5"
        resp = call(self.broker, self.consumer, req)
        self.assertEqual(resp.code, 20)
        self.assertEqual(resp.ext_fields["nextBeginOffset"], "5")
        self.assertEqual(self.broker.store.get_max_offset_in_queue("OFFSET_MOVED_EVENT", 0), 0)

    def test_tag_filter(self) -> None:
        """'TagA || TagB' skips TagC messages: the pull returns only matching records."""
        self.send("alions-send_message_v2-request.bin", 0)  # TagA
        self.send("alions-send_message_v2-4096-compressed-request.bin", 0)  # TagC
        self.send("alions-send_message_v2-compressed-request.bin", 0)  # TagB
        call(self.broker, self.consumer, vector_command("alions-heart_beat-request.bin"))
        resp = call(self.broker, self.consumer, vector_command(ALIONS_PULL))
        self.assertEqual(resp.code, 0)
        tags = [m.properties_dict["TAGS"] for m in decode_messages(resp.body or b"")]
        self.assertEqual(tags, ["TagA", "TagB"])
        self.assertEqual(resp.ext_fields["nextBeginOffset"], "3")

    def test_only_unmatched_messages_retry_immediately(self) -> None:
        """Only non-matching messages: PULL_RETRY_IMMEDIATELY (20) past them."""
        self.send("alions-send_message_v2-4096-compressed-request.bin", 0)  # TagC
        resp = call(self.broker, self.consumer, vector_command(ALIONS_PULL))
        self.assertEqual(resp.code, 20)
        self.assertEqual(resp.ext_fields["nextBeginOffset"], "1")

    def test_commit_offset_flag(self) -> None:
        """sysFlag bit 0 commits commitOffset for the group."""
        self.send()
        req = vector_command("cpp-pull_message-commit-request.bin")
        req.ext_fields["queueOffset"] = "0"
        call(self.broker, self.consumer, req)
        self.assertEqual(self.broker.offsets.query("CapPushGroup", "CapTopic", 0), 3)

    def test_subscription_from_heartbeat(self) -> None:
        """Without the subscription bit the heartbeat's subscription is used (24 without one)."""
        self.send()
        req = vector_command(PUSH_PULL)
        req.ext_fields["sysFlag"] = "2"
        resp = call(self.broker, self.consumer, req)
        self.assertEqual(resp.code, 24)
        call(self.broker, self.consumer, vector_command("cpp-heart_beat-consumer-request.bin"))
        resp = call(self.broker, self.consumer, req)
        self.assertEqual(resp.code, 0)

    def test_subscription_not_latest(self) -> None:
        """A request subVersion newer than the heartbeat copy answers 25."""
        self.send()
        call(self.broker, self.consumer, vector_command("cpp-heart_beat-consumer-request.bin"))
        req = vector_command(PUSH_PULL)
        req.ext_fields["sysFlag"] = "2"
        req.ext_fields["subVersion"] = str(int(req.ext_fields["subVersion"]) + 1)
        resp = call(self.broker, self.consumer, req)
        self.assertEqual(resp.code, 25)

    def test_topic_not_exist(self) -> None:
        """Pulling an unknown topic answers 17."""
        resp = call(self.broker, self.consumer, vector_command(PULL_PULL))
        self.assertEqual(resp.code, 17)

    def test_bad_queue_id(self) -> None:
        """A queue id beyond readQueueNums answers SYSTEM_ERROR."""
        self.send()
        req = vector_command(PULL_PULL)
        req.ext_fields["queueId"] = "9"
        self.assertEqual(call(self.broker, self.consumer, req).code, 1)


class LongPollTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.producer = FakeConnection("127.0.0.1:50000")
        self.consumer = FakeConnection("127.0.0.1:50001")
        self.assertEqual(
            call(self.broker, self.producer, vector_command("cpp-send_message-request.bin")).code,
            0,
        )
        self.held = vector_command(PUSH_PULL)
        self.held.opaque = 777
        self.held.ext_fields["queueOffset"] = "1"

    def test_held_pull_answered_in_same_turn_as_arrival(self) -> None:
        """A suspended pull is answered (original opaque) while the send is being stored."""
        self.broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        self.assertEqual(self.consumer.responses, [])
        self.assertEqual(self.broker.longpoll.count, 1)
        call(self.broker, self.producer, vector_command("cpp-send_message-request.bin"))
        self.assertEqual(len(self.consumer.responses), 1)
        resp = self.consumer.responses[0]
        self.assertEqual((resp.opaque, resp.code), (777, 0))
        self.assertEqual(len(decode_messages(resp.body or b"")), 1)
        self.assertEqual(self.broker.longpoll.count, 0)
        self.assertEqual(self.broker.clock.seconds(), 0)

    def test_held_pull_times_out_with_not_found(self) -> None:
        """After suspendTimeoutMillis the pull is re-run once and answers 19."""
        self.broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        self.broker.clock.advance(14.9)
        self.assertEqual(self.consumer.responses, [])
        self.broker.clock.advance(0.2)
        self.assertEqual([(r.opaque, r.code) for r in self.consumer.responses], [(777, 19)])
        self.assertEqual(self.consumer.responses[0].ext_fields["nextBeginOffset"], "1")

    def test_other_queue_does_not_wake(self) -> None:
        """A message for another queue leaves the pull held."""
        self.broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        req = vector_command("cpp-send_message-request.bin")
        req.ext_fields["queueId"] = "2"
        call(self.broker, self.producer, req)
        self.assertEqual(self.consumer.responses, [])

    def test_short_polling(self) -> None:
        """With longPollingEnable=false the pull is held only shortPollingTimeMills."""
        broker = make_broker(self, longPollingEnable="false")
        call(broker, self.producer, vector_command("cpp-send_message-request.bin"))
        broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        broker.clock.advance(1.0)
        self.assertEqual([r.code for r in self.consumer.responses], [19])

    def test_closed_connection_drops_held_pull(self) -> None:
        """A held pull whose connection closed is dropped and never answered."""
        self.broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        self.consumer.connected = False
        self.broker.dispatcher.connection_lost(self.consumer)  # type: ignore[arg-type]
        self.assertEqual(self.broker.longpoll.count, 0)
        call(self.broker, self.producer, vector_command("cpp-send_message-request.bin"))
        self.broker.clock.advance(20)
        self.assertEqual(self.consumer.responses, [])

    def test_rerun_does_not_commit_again(self) -> None:
        """The commit happens on the first run only."""
        self.held.ext_fields["sysFlag"] = "7"
        self.held.ext_fields["commitOffset"] = "1"
        self.broker.dispatcher.dispatch(self.consumer, self.held)  # type: ignore[arg-type]
        self.assertEqual(self.broker.offsets.query("CapPushGroup", "CapTopic", 0), 1)
        self.broker.offsets.commit("CapPushGroup", "CapTopic", 0, 5)
        call(self.broker, self.producer, vector_command("cpp-send_message-request.bin"))
        self.assertEqual(self.broker.offsets.query("CapPushGroup", "CapTopic", 0), 5)


class Sql92PullTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self, enablePropertyFilter=True)
        self.producer = FakeConnection("127.0.0.1:50000")
        self.consumer = FakeConnection("127.0.0.1:50001")
        for vector in (
            "alions-send_message_v2-request.bin",  # TagA
            "alions-send_message_v2-4096-compressed-request.bin",  # TagC
            "alions-send_message_v2-compressed-request.bin",  # TagB
        ):
            req = vector_command(vector)
            req.ext_fields["e"] = "0"
            self.assertEqual(call(self.broker, self.producer, req).code, 0)

    def pull(self, expression: str) -> RemotingCommand:
        req = vector_command(ALIONS_PULL)
        req.ext_fields["subscription"] = expression
        req.ext_fields["expressionType"] = "SQL92"
        return call(self.broker, self.consumer, req)

    def test_sql92_selects_by_property(self) -> None:
        """An SQL92 subscription in the pull request filters on message properties."""
        resp = self.pull("TAGS IN ('TagA', 'TagC') AND TAGS <> 'TagC'")
        self.assertEqual(resp.code, 0)
        msgs = decode_messages(resp.body or b"")
        self.assertEqual([m.properties_dict["TAGS"] for m in msgs], ["TagA"])

    def test_bad_sql92_refused(self) -> None:
        """A malformed SQL92 expression is refused with SUBSCRIPTION_PARSE_FAILED and a remark."""
        resp = self.pull("TAGS IN ('TagA'")
        self.assertEqual(resp.code, 23)
        self.assertIn("line 1", resp.remark or "")

    def test_sql92_needs_property_filter(self) -> None:
        """With enablePropertyFilter off, an SQL92 pull is refused with a remark."""
        self.broker.config.enable_property_filter = False
        resp = self.pull("a = 1")
        self.assertEqual(resp.code, 1)
        self.assertIn("SQL92", resp.remark or "")

    def test_held_sql92_pull_wakes_only_on_match(self) -> None:
        """A held SQL92 pull ignores a non-matching arrival and wakes on a matching one."""
        self.broker.config.enable_property_filter = True
        held = vector_command(ALIONS_PULL)
        held.opaque = 888
        held.ext_fields.update(
            {"subscription": "TAGS = 'TagB'", "expressionType": "SQL92", "queueOffset": "3"}
        )
        self.broker.dispatcher.dispatch(self.consumer, held)  # type: ignore[arg-type]
        self.assertEqual(self.consumer.responses, [])
        self.assertEqual(self.broker.longpoll.count, 1)
        req = vector_command("alions-send_message_v2-4096-compressed-request.bin")  # TagC
        req.ext_fields["e"] = "0"
        call(self.broker, self.producer, req)
        self.assertEqual(self.consumer.responses, [])
        self.assertEqual(self.broker.longpoll.count, 1)
        req = vector_command("alions-send_message_v2-compressed-request.bin")  # TagB
        req.ext_fields["e"] = "0"
        call(self.broker, self.producer, req)
        [resp] = self.consumer.responses
        self.assertEqual((resp.opaque, resp.code), (888, 0))
        tags = [m.properties_dict["TAGS"] for m in decode_messages(resp.body or b"")]
        self.assertEqual(tags, ["TagB"])
