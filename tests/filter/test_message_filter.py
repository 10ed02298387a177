"""Tests for ExpressionMessageFilter over ConsumeQueue codes and stored records."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from rmq.common.errors import SubscriptionParseFailed
from rmq.common.message import (
    BORNHOST_V6_FLAG,
    MessageExt,
    encode_properties,
    encode_record,
    host_to_bytes,
    tag_hash_code,
)
from rmq.filter.message_filter import ExpressionMessageFilter, record_properties
from rmq.filter.tags import SQL92, build_subscription


def record(props: dict[str, str], body: bytes = b"payload", v6: bool = False) -> bytes:
    born = ("::1", 1234) if v6 else ("127.0.0.1", 1234)
    return encode_record(
        topic=b"T",
        body=body,
        properties=encode_properties(props).encode(),
        queue_id=0,
        flag=0,
        queue_offset=0,
        physical_offset=0,
        sys_flag=BORNHOST_V6_FLAG if v6 else 0,
        born_timestamp=0,
        born_host=host_to_bytes(born),
        store_timestamp=0,
        store_host=host_to_bytes(("127.0.0.1", 10911)),
        reconsume_times=0,
        prepared_transaction_offset=0,
        body_crc=0,
    )


class RecordPropertiesTests(SynchronousTestCase):
    """Properties read straight from a stored record."""

    def test_v4_and_v6_hosts(self) -> None:
        """Both host layouts are skipped correctly."""
        props = {"TAGS": "TagA", "a": "1"}
        self.assertEqual(record_properties(record(props)), props)
        self.assertEqual(record_properties(record(props, v6=True)), props)

    def test_offset(self) -> None:
        """A record inside a larger buffer is read at its offset."""
        first = record({"x": "1"}, body=b"z" * 50)
        self.assertEqual(record_properties(first + record({"y": "2"}), len(first)), {"y": "2"})


class TagFilterTests(SynchronousTestCase):
    """TAG subscriptions decide on the ConsumeQueue hash."""

    def test_codes(self) -> None:
        """Subscribed codes and unknown (None) codes pass; others do not."""
        f = ExpressionMessageFilter(build_subscription("T", "TagA || TagB"))
        self.assertTrue(f.is_matched_by_consume_queue(tag_hash_code("TagA")))
        self.assertTrue(f.is_matched_by_consume_queue(None))
        self.assertFalse(f.is_matched_by_consume_queue(tag_hash_code("TagC")))
        self.assertTrue(f.is_matched_by_commit_log(record({"TAGS": "TagC"})))

    def test_all(self) -> None:
        """* and no subscription match every code."""
        for f in (
            ExpressionMessageFilter(build_subscription("T", "*")),
            ExpressionMessageFilter(None),
        ):
            self.assertTrue(f.is_matched_by_consume_queue(12345))
            self.assertTrue(f.is_matched_by_commit_log(record({})))

    def test_check_tags_rules_out_collisions(self) -> None:
        """With check_tags the TAGS string must be subscribed ("Aa" and "BB" collide)."""
        self.assertEqual(tag_hash_code("Aa"), tag_hash_code("BB"))
        f = ExpressionMessageFilter(build_subscription("T", "Aa"), check_tags=True)
        self.assertTrue(f.is_matched_by_consume_queue(tag_hash_code("BB")))
        self.assertFalse(f.is_matched_by_commit_log(record({"TAGS": "BB"})))
        self.assertTrue(f.is_matched_by_commit_log(None, {"TAGS": "Aa"}))
        self.assertTrue(f.is_matched_by_commit_log(None, None))


class SqlFilterTests(SynchronousTestCase):
    """SQL92 subscriptions pass the hash stage and are evaluated over properties."""

    def setUp(self) -> None:
        self.f = ExpressionMessageFilter(build_subscription("T", "a > 5 AND TAGS = 'X'", SQL92))

    def test_consume_queue_passes(self) -> None:
        """Any tag code passes the first stage."""
        self.assertTrue(self.f.is_matched_by_consume_queue(42))
        self.assertIsNotNone(self.f.expression)

    def test_record_properties_and_message(self) -> None:
        """Records, decoded properties and MessageExt are all evaluated."""
        self.assertTrue(self.f.is_matched_by_commit_log(record({"a": "6", "TAGS": "X"})))
        self.assertFalse(self.f.is_matched_by_commit_log(record({"a": "5", "TAGS": "X"})))
        self.assertTrue(self.f.is_matched_by_commit_log(b"ignored", {"a": "9", "TAGS": "X"}))
        msg = MessageExt(topic="T", body=b"", properties=encode_properties({"a": "7", "TAGS": "X"}))
        self.assertTrue(self.f.is_matched_by_commit_log(msg))

    def test_no_properties_no_match(self) -> None:
        """With nothing to read, the properties are missing and the selector is unknown."""
        self.assertFalse(self.f.is_matched_by_commit_log(None))

    def test_bad_sql_refused_at_construction(self) -> None:
        """A selector that does not compile raises code 23 when the filter is built."""
        with self.assertRaises(SubscriptionParseFailed):
            ExpressionMessageFilter(build_subscription("T", "a >", SQL92))
