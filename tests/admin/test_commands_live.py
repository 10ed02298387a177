"""Every rmq-admin sub-command against a live loopback name server and broker (``--json``)."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from tests.admin.live import BROKER_NAME, CLUSTER, LiveCase


class TopicCommandsTest(LiveCase):
    """updateTopic, topicList, topicRoute, topicStatus, deleteTopic."""

    @defer.inlineCallbacks
    def test_update_topic_then_route_and_list(self) -> Any:
        """updateTopic on a cluster creates the queues that topicRoute and topicList show."""
        made = yield self.admin_json(
            "updateTopic", "-c", CLUSTER, "-t", "AdmT", "-r", "3", "-w", "3", "-p", "6"
        )
        self.assertEqual(made["brokers"], {BROKER_NAME: self.broker})
        route = yield self.admin_json("topicRoute", "-t", "AdmT")
        self.assertEqual(
            [
                (q["brokerName"], q["readQueueNums"], q["writeQueueNums"], q["perm"])
                for q in route["queueDatas"]
            ],
            [(BROKER_NAME, 3, 3, 6)],
        )
        self.assertEqual(route["brokerDatas"][0]["brokerAddrs"], {"0": self.broker})
        listed = yield self.admin_json("topicList")
        self.assertIn("AdmT", listed["topics"])

    @defer.inlineCallbacks
    def test_update_topic_by_broker_addr(self) -> Any:
        """updateTopic -b targets one broker address."""
        made = yield self.admin_json("updateTopic", "-b", self.broker, "-t", "AdmB", "-w", "2")
        self.assertEqual(made["brokers"], {self.broker: self.broker})
        self.assertEqual(made["writeQueueNums"], 2)

    @defer.inlineCallbacks
    def test_topic_status_counts_sent_messages(self) -> Any:
        """topicStatus shows max offset 1 on the queue a message went to."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmS", "-r", "2", "-w", "2")
        sent = yield self.admin_json(
            "sendMessage", "-t", "AdmS", "-p", "x", "-b", BROKER_NAME, "-i", "1"
        )
        self.assertEqual(sent["queueId"], 1)
        status = yield self.admin_json("topicStatus", "-t", "AdmS")
        offsets = {q["queueId"]: (q["minOffset"], q["maxOffset"]) for q in status["queues"]}
        self.assertEqual(offsets, {0: (0, 0), 1: (0, 1)})

    @defer.inlineCallbacks
    def test_delete_topic(self) -> Any:
        """deleteTopic removes the topic from the broker and the name server."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmD")
        gone = yield self.admin_json("deleteTopic", "-c", CLUSTER, "-t", "AdmD")
        self.assertEqual(gone["brokers"], [self.broker])
        listed = yield self.admin_json("topicList")
        self.assertNotIn("AdmD", listed["topics"])
        status, _out, err = yield self.admin("topicRoute", "-t", "AdmD")
        self.assertEqual(status, 1)
        self.assertIn("CODE: 17", err)

    @defer.inlineCallbacks
    def wait_route(self, topic: str) -> Any:
        """The broker registers new topics at once; wait until the route is there."""
        from twisted.internet import reactor, task

        for _ in range(50):
            status, _out, _err = yield self.admin("topicRoute", "-t", topic)
            if status == 0:
                return
            yield task.deferLater(reactor, 0.1, lambda: None)
        self.fail(f"no route for {topic}")


class ClusterBrokerCommandsTest(LiveCase):
    """clusterList, brokerStatus, getBrokerConfig, updateBrokerConfig."""

    @defer.inlineCallbacks
    def test_cluster_list(self) -> Any:
        """clusterList shows the one master with its version."""
        listed = yield self.admin_json("clusterList")
        (row,) = listed["brokers"]
        self.assertEqual(
            (row["cluster"], row["brokerName"], row["brokerId"], row["addr"], row["reachable"]),
            (CLUSTER, BROKER_NAME, 0, self.broker, True),
        )
        self.assertTrue(row["version"])

    @defer.inlineCallbacks
    def test_broker_status(self) -> Any:
        """brokerStatus -b shows the runtime KV table."""
        stats = yield self.admin_json("brokerStatus", "-b", self.broker)
        self.assertIn("msgPutTotalTodayNow", stats[self.broker])
        by_cluster = yield self.admin_json("brokerStatus", "-c", CLUSTER)
        self.assertEqual(list(by_cluster), [self.broker])

    @defer.inlineCallbacks
    def test_get_and_update_broker_config(self) -> Any:
        """updateBrokerConfig changes a key that getBrokerConfig then shows."""
        before = yield self.admin_json("getBrokerConfig", "-b", self.broker)
        self.assertEqual(before[self.broker]["brokerName"], BROKER_NAME)
        yield self.admin_json(
            "updateBrokerConfig", "-b", self.broker, "-k", "defaultTopicQueueNums", "-v", "6"
        )
        after = yield self.admin_json("getBrokerConfig", "-c", CLUSTER)
        self.assertEqual(after[self.broker]["defaultTopicQueueNums"], "6")

    @defer.inlineCallbacks
    def test_update_broker_config_refused_key(self) -> Any:
        """A black-listed key is refused: non-zero exit, code and remark on stderr."""
        status, out, err = yield self.admin(
            "updateBrokerConfig", "-b", self.broker, "-k", "brokerConfigPath", "-v", "/x"
        )
        self.assertEqual((status, out), (1, ""))
        self.assertIn("CODE: 16", err)


class GroupCommandsTest(LiveCase):
    """updateSubGroup, deleteSubGroup, consumerProgress, consumerConnection, producerConnection."""

    @defer.inlineCallbacks
    def test_update_and_delete_sub_group(self) -> Any:
        """updateSubGroup sends the config; deleteSubGroup removes it from the broker."""
        made = yield self.admin_json("updateSubGroup", "-c", CLUSTER, "-g", "GA", "-r", "5")
        self.assertEqual(made["config"]["retryMaxTimes"], 5)
        from twisted.internet import reactor

        from rmq.admin.api import AdminAPI
        from rmq.admin.session import Session

        session = Session(reactor)
        try:
            groups = yield AdminAPI(session.remoting, [self.namesrv]).all_subscription_groups(
                self.broker
            )
            self.assertEqual(groups["GA"]["retryMaxTimes"], 5)
            yield self.admin_json("deleteSubGroup", "-b", self.broker, "-g", "GA")
            groups = yield AdminAPI(session.remoting, [self.namesrv]).all_subscription_groups(
                self.broker
            )
            self.assertNotIn("GA", groups)
        finally:
            yield session.close()

    @defer.inlineCallbacks
    def test_consumer_progress(self) -> Any:
        """consumerProgress shows broker and consumer offsets after consumeMessage commits."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmP", "-r", "1", "-w", "1")
        for body in ("a", "b", "c"):
            yield self.admin_json("sendMessage", "-t", "AdmP", "-p", body)
        yield self.admin_json("consumeMessage", "-t", "AdmP", "-g", "GP", "-c", "2")
        progress = yield self.admin_json("consumerProgress", "-g", "GP")
        self.assertEqual(
            [
                (q["topic"], q["brokerOffset"], q["consumerOffset"], q["diff"])
                for q in progress["queues"]
            ],
            [("AdmP", 3, 2, 1)],
        )
        self.assertEqual(progress["diffTotal"], 1)

    @defer.inlineCallbacks
    def test_consumer_connection_offline_group(self) -> Any:
        """consumerConnection of a group with no client exits 1 with code 206."""
        status, _out, err = yield self.admin("consumerConnection", "-g", "nobody")
        self.assertEqual(status, 1)
        self.assertIn("CODE: 206", err)

    @defer.inlineCallbacks
    def test_consumer_and_producer_connection_online(self) -> Any:
        """A heartbeating client shows in consumerConnection and producerConnection."""
        from twisted.internet import reactor

        from rmq.admin.api import AdminAPI
        from rmq.admin.session import Session
        from rmq.filter.tags import build_subscription

        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmC")
        session = Session(reactor)
        api = AdminAPI(session.remoting, [self.namesrv])
        sub = build_subscription("AdmC", "tagA", sub_version=1)
        heartbeat = {
            "clientID": "127.0.0.1@test",
            "consumerDataSet": [
                {
                    "groupName": "GC",
                    "consumeType": "CONSUME_PASSIVELY",
                    "messageModel": "CLUSTERING",
                    "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                    "subscriptionDataSet": [sub.to_json()],
                    "unitMode": False,
                }
            ],
            "producerDataSet": [{"groupName": "PG"}],
        }
        try:
            yield api.client.heartbeat(self.broker, heartbeat, 5.0)
            conn = yield self.admin_json("consumerConnection", "-g", "GC")
            self.assertEqual([c["clientId"] for c in conn["connections"]], ["127.0.0.1@test"])
            self.assertEqual(conn["subscriptions"], {"AdmC": "tagA"})
            self.assertEqual(conn["messageModel"], "CLUSTERING")
            prod = yield self.admin_json("producerConnection", "-g", "PG", "-t", "AdmC")
            self.assertEqual([c["clientId"] for c in prod["connections"]], ["127.0.0.1@test"])
        finally:
            yield session.close()


class MessageCommandsTest(LiveCase):
    """sendMessage, consumeMessage, queryMsgBy*, printMsg, resetOffsetByTime."""

    @defer.inlineCallbacks
    def send(self, topic: str, body: str, *extra: str) -> Any:
        sent = yield self.admin_json("sendMessage", "-t", topic, "-p", body, *extra)
        self.assertEqual(sent["sendStatus"], "SEND_OK")
        return sent

    @defer.inlineCallbacks
    def test_readme_send_then_consume(self) -> Any:
        """The README's two lines: send 'hello' to TopicTest, consume one with a group."""
        yield self.send("TopicTest", "hello")
        got = yield self.admin_json("consumeMessage", "-t", "TopicTest", "-g", "group", "-c", "1")
        self.assertEqual([m["body"] for m in got["messages"]], ["hello"])
        again = yield self.admin_json("consumeMessage", "-t", "TopicTest", "-g", "group")
        self.assertEqual(again["messages"], [])

    @defer.inlineCallbacks
    def test_send_message_table_output(self) -> Any:
        """Without --json, sendMessage prints an aligned table with SEND_OK."""
        status, out, _err = yield self.admin("sendMessage", "-t", "TopicTest", "-p", "hi")
        self.assertEqual(status, 0)
        head, row = out.splitlines()
        self.assertTrue(head.startswith("#Broker Name"))
        self.assertIn("SEND_OK", row)

    @defer.inlineCallbacks
    def test_query_msg_by_id_and_unique_key(self) -> Any:
        """queryMsgById (offset id) and queryMsgByUniqueKey find the sent message."""
        sent = yield self.send("AdmQ", "payload", "-c", "tagQ")
        by_id = yield self.admin_json("queryMsgById", "-i", sent["offsetMsgId"])
        self.assertEqual([m["body"] for m in by_id["messages"]], ["payload"])
        self.assertEqual(by_id["messages"][0]["properties"]["TAGS"], "tagQ")
        by_uniq = yield self.admin_json("queryMsgByUniqueKey", "-t", "AdmQ", "-i", sent["msgId"])
        self.assertEqual([m["msgId"] for m in by_uniq["messages"]], [sent["msgId"]])

    @defer.inlineCallbacks
    def test_query_msg_by_key(self) -> Any:
        """queryMsgByKey returns only messages carrying the key."""
        yield self.send("AdmK", "one", "-k", "order-1")
        yield self.send("AdmK", "two", "-k", "order-2")
        found = yield self.admin_json("queryMsgByKey", "-t", "AdmK", "-k", "order-2")
        self.assertEqual([m["body"] for m in found["messages"]], ["two"])

    @defer.inlineCallbacks
    def test_query_msg_by_offset(self) -> Any:
        """queryMsgByOffset reads the message at a queue offset."""
        sent = yield self.send("AdmO", "at-offset", "-b", BROKER_NAME, "-i", "0")
        found = yield self.admin_json(
            "queryMsgByOffset",
            "-t",
            "AdmO",
            "-b",
            BROKER_NAME,
            "-i",
            "0",
            "-o",
            str(sent["queueOffset"]),
        )
        self.assertEqual(found["messages"][0]["body"], "at-offset")
        status, _out, err = yield self.admin(
            "queryMsgByOffset", "-t", "AdmO", "-b", BROKER_NAME, "-i", "0", "-o", "99"
        )
        self.assertEqual(status, 1)
        self.assertIn("no message at offset 99", err)

    @defer.inlineCallbacks
    def test_print_msg_filters_tags(self) -> Any:
        """printMsg lists every message; -s keeps only matching tags."""
        yield self.send("AdmM", "red", "-c", "r")
        yield self.send("AdmM", "blue", "-c", "b")
        everything = yield self.admin_json("printMsg", "-t", "AdmM")
        self.assertEqual(sorted(m["body"] for m in everything["messages"]), ["blue", "red"])
        only = yield self.admin_json("printMsg", "-t", "AdmM", "-s", "r")
        self.assertEqual([m["body"] for m in only["messages"]], ["red"])

    @defer.inlineCallbacks
    def test_reset_offset_by_time(self) -> Any:
        """resetOffsetByTime -s 0 rewinds an offline group so the messages are consumed again."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmR", "-r", "2", "-w", "2")
        for body in ("r1", "r2"):
            yield self.send("AdmR", body)
        first = yield self.admin_json("consumeMessage", "-t", "AdmR", "-g", "GR")
        self.assertEqual(sorted(m["body"] for m in first["messages"]), ["r1", "r2"])
        reset = yield self.admin_json("resetOffsetByTime", "-g", "GR", "-t", "AdmR", "-s", "0")
        self.assertEqual(reset["mode"], "offline")
        self.assertEqual([q["offset"] for q in reset["queues"]], [0, 0])
        again = yield self.admin_json("consumeMessage", "-t", "AdmR", "-g", "GR")
        self.assertEqual(sorted(m["body"] for m in again["messages"]), ["r1", "r2"])


class NamesrvCommandsTest(LiveCase):
    """wipeWritePerm, addWritePerm, updateKvConfig, deleteKvConfig, *NamesrvConfig."""

    @defer.inlineCallbacks
    def test_wipe_and_add_write_perm(self) -> Any:
        """wipeWritePerm clears the write bit in routes; addWritePerm restores it."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmW")
        wiped = yield self.admin_json("wipeWritePerm", "-b", BROKER_NAME)
        self.assertGreater(wiped["counts"][self.namesrv], 0)
        route = yield self.admin_json("topicRoute", "-t", "AdmW")
        self.assertEqual(route["queueDatas"][0]["perm"] & 2, 0)
        added = yield self.admin_json("addWritePerm", "-b", BROKER_NAME)
        self.assertEqual(added["counts"][self.namesrv], wiped["counts"][self.namesrv])
        route = yield self.admin_json("topicRoute", "-t", "AdmW")
        self.assertEqual(route["queueDatas"][0]["perm"], 6)

    @defer.inlineCallbacks
    def test_update_and_delete_kv_config(self) -> Any:
        """updateKvConfig stores an item the name server returns; deleteKvConfig drops it."""
        from twisted.internet import reactor

        from rmq.admin.api import AdminAPI
        from rmq.admin.session import Session

        yield self.admin_json("updateKvConfig", "-s", "NS1", "-k", "k", "-v", "v1")
        session = Session(reactor)
        api = AdminAPI(session.remoting, [self.namesrv])
        try:
            value = yield api.get_kv_config("NS1", "k")
            self.assertEqual(value, "v1")
            yield self.admin_json("deleteKvConfig", "-s", "NS1", "-k", "k")
            value = yield api.get_kv_config("NS1", "k")
            self.assertIsNone(value)
        finally:
            yield session.close()

    @defer.inlineCallbacks
    def test_get_and_update_namesrv_config(self) -> Any:
        """updateNamesrvConfig changes a setting getNamesrvConfig then reports."""
        before = yield self.admin_json("getNamesrvConfig")
        self.assertEqual(before[self.namesrv]["orderMessageEnable"], "false")
        yield self.admin_json("updateNamesrvConfig", "-k", "orderMessageEnable", "-v", "true")
        after = yield self.admin_json("getNamesrvConfig")
        self.assertEqual(after[self.namesrv]["orderMessageEnable"], "true")

    @defer.inlineCallbacks
    def test_update_namesrv_config_black_list(self) -> Any:
        """A black-listed name-server key exits 1 with code 16."""
        status, _out, err = yield self.admin("updateNamesrvConfig", "-k", "kvConfigPath", "-v", "x")
        self.assertEqual(status, 1)
        self.assertIn("CODE: 16", err)


class ResetOnlineTest(LiveCase):
    @defer.inlineCallbacks
    def test_reset_offset_with_online_consumer(self) -> Any:
        """With a consumer online the broker resets the offsets itself (mode 'broker')."""
        from twisted.internet import reactor

        from rmq.admin.api import AdminAPI
        from rmq.admin.session import Session
        from rmq.filter.tags import build_subscription

        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "AdmX", "-r", "1", "-w", "1")
        yield self.admin_json("sendMessage", "-t", "AdmX", "-p", "x1")
        yield self.admin_json("consumeMessage", "-t", "AdmX", "-g", "GX")
        session = Session(reactor)
        api = AdminAPI(session.remoting, [self.namesrv])
        sub = build_subscription("AdmX", "*", sub_version=1)
        heartbeat = {
            "clientID": "127.0.0.1@reset",
            "consumerDataSet": [
                {
                    "groupName": "GX",
                    "consumeType": "CONSUME_PASSIVELY",
                    "messageModel": "CLUSTERING",
                    "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                    "subscriptionDataSet": [sub.to_json()],
                    "unitMode": False,
                }
            ],
            "producerDataSet": [],
        }
        try:
            yield api.client.heartbeat(self.broker, heartbeat, 5.0)
            reset = yield self.admin_json("resetOffsetByTime", "-g", "GX", "-t", "AdmX", "-s", "0")
            self.assertEqual(reset["mode"], "broker")
            self.assertEqual([q["offset"] for q in reset["queues"]], [0])
            progress = yield self.admin_json("consumerProgress", "-g", "GX", "-t", "AdmX")
            self.assertEqual([q["consumerOffset"] for q in progress["queues"]], [0])
        finally:
            yield session.close()
