"""Heartbeat, unregister, consumer list, offsets (14/15), channel expiry and notifications."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from rmq.remoting.codes import RequestCode
from tests.broker.harness import FakeConnection, call, make_broker, vector_command


class ClientTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.c1 = FakeConnection("127.0.0.1:50001")
        self.c2 = FakeConnection("127.0.0.1:50002")

    def test_heartbeat_both_encodings(self) -> None:
        """C++ (ordinals, string subVersion) and ali-ons (names) heartbeats both register."""
        for name in (
            "cpp-heart_beat-consumer-request.bin",
            "alions-heart_beat-request.bin",
            "cpp-heart_beat-producer-request.bin",
        ):
            resp = call(self.broker, self.c1, vector_command(name))
            self.assertEqual((resp.code, resp.version), (0, 409))
        self.assertEqual(self.broker.consumers.get("CapPushGroup").message_model, "CLUSTERING")
        sub = self.broker.consumers.find_subscription("CapAlionsPushGroup", "CapTopic")
        assert sub is not None
        self.assertEqual(list(sub.tags_set), ["TagA", "TagB"])
        self.assertEqual(len(self.broker.producers.get("CapProducerGroup")), 1)

    def test_heartbeat_creates_retry_topic(self) -> None:
        """A consumer heartbeat creates %RETRY%<group> with the group's retry queues."""
        call(self.broker, self.c1, vector_command("cpp-heart_beat-consumer-request.bin"))
        tc = self.broker.topics.get("%RETRY%CapPushGroup")
        assert tc is not None
        self.assertEqual(tc.read_queue_nums, 1)

    def test_consumer_list_and_notify(self) -> None:
        """A second member makes the first get NOTIFY_CONSUMER_IDS_CHANGED (oneway)."""
        hb = vector_command("cpp-heart_beat-consumer-request.bin")
        call(self.broker, self.c1, hb)
        self.c1.oneways.clear()
        hb2 = vector_command("cpp-heart_beat-consumer-request.bin")
        hb2.body = (hb2.body or b"").replace(b"12454-127.0.0.1@DEFAULT", b"other@DEFAULT")
        call(self.broker, self.c2, hb2)
        self.assertEqual(
            [c.code for c in self.c1.oneways], [RequestCode.NOTIFY_CONSUMER_IDS_CHANGED]
        )
        self.assertTrue(self.c1.oneways[0].is_oneway)
        self.assertEqual(self.c1.oneways[0].ext_fields, {"consumerGroup": "CapPushGroup"})
        resp = call(
            self.broker, self.c1, vector_command("cpp-get_consumer_list_by_group-request.bin")
        )
        self.assertEqual(
            sorted(json.loads(resp.body or b"")["consumerIdList"]),
            ["12454-127.0.0.1@DEFAULT", "other@DEFAULT"],
        )
        self.c1.oneways.clear()
        call(self.broker, self.c2, vector_command("cpp-unregister_client-consumer-request.bin"))
        self.assertEqual(len(self.c1.oneways), 1)

    def test_same_heartbeat_again_does_not_notify(self) -> None:
        """A repeated heartbeat with unchanged subscriptions sends no notification."""
        call(self.broker, self.c1, vector_command("cpp-heart_beat-consumer-request.bin"))
        self.c1.oneways.clear()
        call(self.broker, self.c1, vector_command("cpp-heart_beat-consumer-request.bin"))
        self.assertEqual(self.c1.oneways, [])

    def test_consumer_list_unknown_group(self) -> None:
        """No members: code 1 naming the group."""
        resp = call(
            self.broker, self.c1, vector_command("alions-get_consumer_list_by_group-request.bin")
        )
        self.assertEqual(resp.code, 1)
        self.assertIn("CapAlionsPushGroup", resp.remark or "")

    def test_unregister_vectors(self) -> None:
        """Both clients' UNREGISTER_CLIENT frames answer 0 and drop the channel."""
        call(self.broker, self.c1, vector_command("alions-heart_beat-request.bin"))
        for name in (
            "alions-unregister_client-consumer-request.bin",
            "alions-unregister_client-producer-request.bin",
            "cpp-unregister_client-producer-request.bin",
        ):
            self.assertEqual(call(self.broker, self.c1, vector_command(name)).code, 0)
        self.assertIsNone(self.broker.consumers.get("CapAlionsPushGroup"))

    def test_channel_expiry(self) -> None:
        """A channel silent for 120 s is closed and removed by the scan."""
        self.broker.consumers.start()
        self.addCleanup(self.broker.consumers.stop)
        call(self.broker, self.c1, vector_command("cpp-heart_beat-consumer-request.bin"))
        self.broker.clock.advance(110)
        self.assertIsNotNone(self.broker.consumers.get("CapPushGroup"))
        self.broker.clock.advance(20)
        self.assertIsNone(self.broker.consumers.get("CapPushGroup"))
        self.assertFalse(self.c1.connected)

    def test_disconnect_removes_channel(self) -> None:
        """A closed connection leaves its groups at once."""
        call(self.broker, self.c1, vector_command("cpp-heart_beat-producer-request.bin"))
        self.broker.dispatcher.connection_lost(self.c1)  # type: ignore[arg-type]
        self.assertEqual(self.broker.producers.get("CapProducerGroup"), [])


class OffsetTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.conn = FakeConnection()

    def test_update_then_query(self) -> None:
        """UPDATE_CONSUMER_OFFSET then QUERY_CONSUMER_OFFSET returns it as a string."""
        self.assertEqual(
            call(
                self.broker, self.conn, vector_command("cpp-update_consumer_offset-request.bin")
            ).code,
            0,
        )
        resp = call(self.broker, self.conn, vector_command("cpp-query_consumer_offset-request.bin"))
        self.assertEqual((resp.code, resp.ext_fields), (0, {"offset": "3"}))

    def test_negative_commit_ignored(self) -> None:
        """ali-ons' -1 commit is accepted and changes nothing."""
        resp = call(
            self.broker,
            self.conn,
            vector_command("alions-update_consumer_offset-minus1-request.bin"),
        )
        self.assertEqual(resp.code, 0)
        self.assertEqual(self.broker.offsets.query("CapAlionsPushGroup", "CapTopic", 2), -1)

    def test_query_young_queue_is_zero(self) -> None:
        """No committed offset and a queue starting at 0: offset 0 (not 22)."""
        resp = call(
            self.broker, self.conn, vector_command("alions-query_consumer_offset-request.bin")
        )
        self.assertEqual((resp.code, resp.ext_fields), (0, {"offset": "0"}))

    def test_offsets_persist_with_int_keys(self) -> None:
        """consumerOffset.json has Java's unquoted int keys and reloads."""
        call(self.broker, self.conn, vector_command("cpp-update_consumer_offset-request.bin"))
        self.broker.offsets.persist()
        with open(self.broker.config_path("consumerOffset.json"), "rb") as f:
            self.assertEqual(f.read(), b'{"offsetTable":{"CapTopic@CapPushGroup":{0:3}}}')
        from rmq.broker.offsets import ConsumerOffsetManager
        from rmq.broker.persist import synchronous_runner

        again = ConsumerOffsetManager(
            self.broker.config_path("consumerOffset.json"), synchronous_runner
        )
        again.load()
        self.assertEqual(again.query("CapPushGroup", "CapTopic", 0), 3)
