"""Tests for rmq.broker.processor.query: QUERY_MESSAGE and VIEW_MESSAGE_BY_ID on a real store."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.processor import query
from rmq.common.message import decode_messages
from rmq.remoting.codes import RequestCode as RC
from rmq.remoting.codes import ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.broker.admin_fixture import FakeBroker, FakeConnection

FOREVER = {"beginTimestamp": "0", "endTimestamp": str(2**62)}


class QueryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = FakeBroker(self.mktemp())
        self.addCleanup(self.broker.stop)
        query.register(self.broker.dispatcher, self.broker)  # type: ignore[arg-type]
        self.conn = FakeConnection()
        self.first = self.broker.put("T", 0, b"one", KEYS="k1 shared", UNIQ_KEY="U1")
        self.second = self.broker.put("T", 1, b"two", KEYS="shared", UNIQ_KEY="U2")

    def call(self, code: int, ext: dict[str, str]) -> RemotingCommand:
        req = RemotingCommand(code, ext_fields=ext, opaque=9)
        self.broker.dispatcher.dispatch(self.conn, req)  # type: ignore[arg-type]
        resp: RemotingCommand = self.conn.sent[-1]
        self.assertEqual(resp.opaque, 9)
        return resp

    def test_query_by_key(self) -> None:
        """Every record whose KEYS contain the key comes back, concatenated."""
        resp = self.call(
            RC.QUERY_MESSAGE, {"topic": "T", "key": "shared", "maxNum": "32", **FOREVER}
        )
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        bodies = sorted(m.body for m in decode_messages(resp.body or b""))
        self.assertEqual(bodies, [b"one", b"two"])
        self.assertEqual(
            set(resp.ext_fields), {"indexLastUpdateTimestamp", "indexLastUpdatePhyoffset"}
        )
        self.assertEqual(resp.ext_fields["indexLastUpdatePhyoffset"], str(self.second.wrote_offset))

    def test_query_by_unique_key(self) -> None:
        """With _UNIQUE_KEY_QUERY the UNIQ_KEY matches even when maxNum is 0."""
        ext = {"topic": "T", "key": "U2", "maxNum": "0", "_UNIQUE_KEY_QUERY": "true", **FOREVER}
        resp = self.call(RC.QUERY_MESSAGE, ext)
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        self.assertEqual([m.body for m in decode_messages(resp.body or b"")], [b"two"])

    def test_query_not_found(self) -> None:
        """No match (or a time range missing the messages) gives QUERY_NOT_FOUND with headers."""
        resp = self.call(RC.QUERY_MESSAGE, {"topic": "T", "key": "nope", "maxNum": "32", **FOREVER})
        self.assertEqual(resp.code, ResponseCode.QUERY_NOT_FOUND)
        self.assertEqual(resp.remark, "can not find message, maybe time range not correct")
        self.assertIn("indexLastUpdatePhyoffset", resp.ext_fields)
        ext = {
            "topic": "T",
            "key": "k1",
            "maxNum": "32",
            "beginTimestamp": "0",
            "endTimestamp": "1",
        }
        self.assertEqual(self.call(RC.QUERY_MESSAGE, ext).code, ResponseCode.QUERY_NOT_FOUND)

    def test_query_missing_field(self) -> None:
        """A missing key field is named in the error."""
        resp = self.call(RC.QUERY_MESSAGE, {"topic": "T", "maxNum": "32", **FOREVER})
        self.assertNotEqual(resp.code, ResponseCode.SUCCESS)
        self.assertIn("key", resp.remark or "")

    def test_view_by_id(self) -> None:
        """VIEW_MESSAGE_BY_ID returns the one record at the CommitLog offset."""
        resp = self.call(RC.VIEW_MESSAGE_BY_ID, {"offset": str(self.second.wrote_offset)})
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        [msg] = decode_messages(resp.body or b"")
        self.assertEqual((msg.body, msg.queue_id), (b"two", 1))

    def test_view_by_id_absent(self) -> None:
        """An offset where no record starts gives SYSTEM_ERROR with Java's remark."""
        for offset in ("5", "-1", "99999999"):
            resp = self.call(RC.VIEW_MESSAGE_BY_ID, {"offset": offset})
            self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
            self.assertEqual(resp.remark, f"can not find message by the offset, {offset}")
