"""filterSupportRetry: retry messages are judged by the group's SQL92 filter of their topic."""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.retryfilter import RetryTopicFilter, SubscriptionLookup, for_pull
from rmq.common.message import decode_messages, encode_properties
from rmq.filter.tags import SubscriptionData, build_subscription
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import FakeConnection, call, make_broker

GROUP, TOPIC, RETRY = "RfGroup", "RfTopic", "%RETRY%RfGroup"
RED = "color = 'red'"


def lookup_from(subs: dict[str, SubscriptionData]) -> SubscriptionLookup:
    def lookup(group: str, topic: str) -> SubscriptionData | None:
        return subs.get(topic) if group == GROUP else None

    return lookup


class RetryTopicFilterTests(SynchronousTestCase):
    def retry_filter(self, real: SubscriptionData | None) -> RetryTopicFilter:
        subs = {TOPIC: real} if real is not None else {}
        return RetryTopicFilter(build_subscription(RETRY, "*"), GROUP, lookup_from(subs))

    def test_sql92_of_the_original_topic_decides(self) -> None:
        """A retry message matches only if it satisfies the group's SQL92 on its RETRY_TOPIC."""
        f = self.retry_filter(build_subscription(TOPIC, RED, "SQL92"))
        self.assertTrue(f.is_matched_by_commit_log(None, {"RETRY_TOPIC": TOPIC, "color": "red"}))
        self.assertFalse(f.is_matched_by_commit_log(None, {"RETRY_TOPIC": TOPIC, "color": "blue"}))
        self.assertFalse(f.is_matched_by_commit_log(None, {"RETRY_TOPIC": TOPIC}))

    def test_pass_without_sql92_filter(self) -> None:
        """Tag subscriptions, unknown topics, no RETRY_TOPIC and bad SQL let the message through."""
        tagged = self.retry_filter(build_subscription(TOPIC, "TagA"))
        self.assertTrue(tagged.is_matched_by_commit_log(None, {"RETRY_TOPIC": TOPIC, "TAGS": "B"}))
        sql = self.retry_filter(build_subscription(TOPIC, RED, "SQL92"))
        self.assertTrue(sql.is_matched_by_commit_log(None, {"color": "blue"}))
        self.assertTrue(sql.is_matched_by_commit_log(None, {"RETRY_TOPIC": "Other"}))
        self.assertTrue(sql.is_matched_by_commit_log(None, None))
        broken = self.retry_filter(SubscriptionData(TOPIC, "color = ", expression_type="SQL92"))
        self.assertTrue(broken.is_matched_by_commit_log(None, {"RETRY_TOPIC": TOPIC}))

    def test_for_pull_only_wraps_retry_topics_when_enabled(self) -> None:
        """The retry-aware filter is used for %RETRY% topics and only with filterSupportRetry."""
        sub = build_subscription(RETRY, "*")
        lookup = lookup_from({})
        self.assertIsInstance(for_pull(sub, RETRY, True, lookup), RetryTopicFilter)
        self.assertNotIsInstance(for_pull(sub, RETRY, False, lookup), RetryTopicFilter)
        self.assertNotIsInstance(for_pull(sub, TOPIC, True, lookup), RetryTopicFilter)


class RetryPullTests(SynchronousTestCase):
    """PULL_MESSAGE on %RETRY%<group> with the subscription taken from the heartbeat."""

    def setUp(self) -> None:
        self.broker = make_broker(self, enablePropertyFilter=True, filterSupportRetry=True)
        self.conn = FakeConnection("127.0.0.1:50001")
        subs = [
            {"topic": TOPIC, "subString": RED, "expressionType": "SQL92", "subVersion": 1},
            {"topic": RETRY, "subString": "*", "expressionType": "TAG", "subVersion": 1},
        ]
        for s in subs:
            s.update(tagsSet=[], codeSet=[], classFilterMode=False)
        heartbeat = {
            "clientID": "127.0.0.1@rf",
            "consumerDataSet": [
                {
                    "groupName": GROUP, "consumeType": "CONSUME_PASSIVELY",
                    "messageModel": "CLUSTERING", "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                    "subscriptionDataSet": subs, "unitMode": False,
                }
            ],
            "producerDataSet": [],
        }  # fmt: skip
        hb = RemotingCommand.request(RequestCode.HEART_BEAT, body=json.dumps(heartbeat).encode())
        self.assertEqual(call(self.broker, self.conn, hb).code, 0)
        for color in ("red", "blue", "red"):
            props = {"RETRY_TOPIC": TOPIC, "color": color, "TAGS": "T"}
            ext = {
                "producerGroup": "P", "topic": RETRY, "defaultTopic": "TBW102",
                "defaultTopicQueueNums": "4", "queueId": "0", "sysFlag": "0",
                "bornTimestamp": "0", "flag": "0", "properties": encode_properties(props),
            }  # fmt: skip
            req = RemotingCommand.request(RequestCode.SEND_MESSAGE, ext, color.encode())
            self.assertEqual(call(self.broker, self.conn, req).code, 0)

    def pull(self) -> list[bytes]:
        ext = {
            "consumerGroup": GROUP, "topic": RETRY, "queueId": "0", "queueOffset": "0",
            "maxMsgNums": "32", "sysFlag": "0", "commitOffset": "0",
            "suspendTimeoutMillis": "0", "subVersion": "1",
        }  # fmt: skip
        resp = call(self.broker, self.conn, RemotingCommand.request(RequestCode.PULL_MESSAGE, ext))
        self.assertEqual(resp.code, 0, resp.remark)
        return [m.body for m in decode_messages(resp.body or b"")]

    def test_retry_pull_applies_original_sql92(self) -> None:
        """With filterSupportRetry the blue retry message is skipped by the 'red' selector."""
        self.assertEqual(self.pull(), [b"red", b"red"])

    def test_retry_pull_unfiltered_by_default(self) -> None:
        """Without filterSupportRetry every retry message is returned (subscription '*')."""
        self.broker.config.filter_support_retry = False
        self.assertEqual(self.pull(), [b"red", b"blue", b"red"])
