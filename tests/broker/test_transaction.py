"""Transactions: half messages, END_TRANSACTION commit/rollback/unknown, check-back, check max."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.clients import ClientChannelInfo
from rmq.broker.transaction.half import is_half_send
from rmq.broker.transaction.processor import register
from rmq.broker.transaction.service import TransactionService
from rmq.common.errors import NoPermission
from rmq.common.message import (
    PGROUP,
    REAL_QID,
    REAL_TOPIC,
    TRAN_MSG,
    TRANSACTION_CHECK_TIMES,
    TRANSACTION_COMMIT_TYPE,
    TRANSACTION_MASK,
    TRANSACTION_PREPARED_TYPE,
    TRANSACTION_ROLLBACK_TYPE,
    decode_message_ext,
    decode_properties,
    encode_properties,
)
from rmq.headers import CheckTransactionStateRequestHeader
from rmq.remoting.codes import RPC_ONEWAY
from rmq.remoting.command import RemotingCommand
from tests.broker.features_helpers import FakeBroker, RecordingConnection, stored

HALF = "RMQ_SYS_TRANS_HALF_TOPIC"
OP = "RMQ_SYS_TRANS_OP_HALF_TOPIC"


class TransactionCase(SynchronousTestCase):
    config: dict[str, str] = {
        "transactionCheckInterval": "1000",
        "transactionTimeOut": "3000",
        "transactionCheckMax": "3",
    }

    def setUp(self) -> None:
        self.broker = FakeBroker(self.mktemp(), **self.config)
        self.tx = TransactionService(self.broker)  # type: ignore[arg-type]
        self.broker.transactions = self.tx
        register(self.broker.dispatcher, self.broker)  # type: ignore[arg-type]
        self.client = RecordingConnection()

    def tearDown(self) -> None:
        self.tx.stop()
        self.broker.close()

    def send_half(self, group: str = "PG", key: str = "K1", born_ms: int | None = None) -> Any:
        """Store a transactional send through prepare(); return the PutResult."""
        props = encode_properties({TRAN_MSG: "true", PGROUP: group, "UNIQ_KEY": key, "TAGS": "A"})
        msg = stored("T", 1, b"tx-body", props)
        msg.sys_flag = TRANSACTION_PREPARED_TYPE
        if born_ms is not None:
            msg.born_timestamp = born_ms
        return self.broker.put(self.tx.prepare(msg))

    def end(self, put: Any, state: int, group: str = "PG", oneway: bool = False) -> Any:
        ext = {
            "producerGroup": group,
            "tranStateTableOffset": str(put.queue_offset),
            "commitLogOffset": str(put.wrote_offset),
            "commitOrRollback": str(state),
            "msgId": "K1",
            "fromTransactionCheck": "false",
        }
        req = RemotingCommand.request(37, ext, oneway=oneway)
        before = len(self.client.responses)
        self.broker.dispatcher.dispatch(self.client, req)  # type: ignore[arg-type]
        return self.client.responses[-1] if len(self.client.responses) > before else None

    def queue(self, topic: str, qid: int = 0) -> list[Any]:
        res = self.broker.store.get_message("x", topic, qid, 0, 32)
        return [decode_message_ext(b)[0] for b in res.buffers]


class HalfTests(TransactionCase):
    def test_prepare_parks_in_half_topic(self) -> None:
        """A TRAN_MSG send is stored in the half topic with REAL_* and no transaction bits."""
        self.send_half()
        [half] = self.queue(HALF)
        props = decode_properties(half.properties)
        self.assertEqual((props[REAL_TOPIC], props[REAL_QID]), ("T", "1"))
        self.assertEqual(half.sys_flag & TRANSACTION_MASK, 0)
        self.assertEqual(self.queue("T", 1), [])

    def test_is_half_send(self) -> None:
        """TRAN_MSG=true marks a transactional send."""
        self.assertTrue(is_half_send({TRAN_MSG: "true"}))
        self.assertFalse(is_half_send(""))

    def test_rejected_when_configured(self) -> None:
        """rejectTransactionMessage refuses half messages with NO_PERMISSION."""
        self.broker.config.reject_transaction_message = True
        e = self.assertRaises(NoPermission, self.send_half)
        self.assertEqual(e.code, 16)


class EndTests(TransactionCase):
    def test_commit(self) -> None:
        """Commit appends the real message (COMMIT bits, prepared offset) and an op record."""
        put = self.send_half()
        response = self.end(put, TRANSACTION_COMMIT_TYPE)
        self.assertEqual((response.code, response.remark), (0, None))
        [real] = self.queue("T", 1)
        props = decode_properties(real.properties)
        self.assertEqual(real.body, b"tx-body")
        self.assertEqual(real.sys_flag & TRANSACTION_MASK, TRANSACTION_COMMIT_TYPE)
        self.assertEqual(real.prepared_transaction_offset, put.wrote_offset)
        for key in (REAL_TOPIC, REAL_QID, TRAN_MSG):
            self.assertNotIn(key, props)
        self.assertEqual(props[PGROUP], "PG")
        [op] = self.queue(OP)
        self.assertEqual((op.body, op.tags), (b"0", "d"))

    def test_rollback(self) -> None:
        """Rollback writes only the op record; consumers never see the message."""
        put = self.send_half()
        self.assertEqual(self.end(put, TRANSACTION_ROLLBACK_TYPE).code, 0)
        self.assertEqual(self.queue("T", 1), [])
        self.assertEqual(len(self.queue(OP)), 1)

    def test_oneway_commit_not_answered(self) -> None:
        """A oneway END_TRANSACTION (as Java sends it) commits without a response."""
        put = self.send_half()
        self.assertIsNone(self.end(put, TRANSACTION_COMMIT_TYPE, oneway=True))
        self.assertEqual(len(self.queue("T", 1)), 1)

    def test_unknown_state_does_nothing(self) -> None:
        """State 0 (unknown) gets no response and changes nothing."""
        put = self.send_half()
        self.assertIsNone(self.end(put, 0))
        self.assertEqual((self.queue("T", 1), self.queue(OP)), ([], []))

    def test_wrong_group(self) -> None:
        """A producer group other than PGROUP is refused with code 1."""
        put = self.send_half()
        response = self.end(put, TRANSACTION_COMMIT_TYPE, group="Other")
        self.assertEqual((response.code, response.remark), (1, "The producer group wrong"))

    def test_wrong_offset(self) -> None:
        """A commit-log offset that holds no half message is refused with code 1."""
        put = self.send_half()
        put2 = type("P", (), {"queue_offset": 0, "wrote_offset": put.wrote_offset + 1})()
        response = self.end(put2, TRANSACTION_COMMIT_TYPE)
        self.assertEqual(response.code, 1)
        self.assertEqual(response.remark, "Find prepared transaction message failed")

    def test_slave_refuses(self) -> None:
        """A slave answers SLAVE_NOT_AVAILABLE (11)."""
        self.broker.config.broker_id = 1
        put = self.send_half()
        self.assertEqual(self.end(put, TRANSACTION_COMMIT_TYPE).code, 11)


class CheckTests(TransactionCase):
    def setUp(self) -> None:
        super().setUp()
        self.producer = RecordingConnection("127.0.0.1:50000")
        self.broker.producers.register(
            "PG", ClientChannelInfo(self.producer, "client-1", "JAVA", 409, 0.0)
        )
        self.tx.start()

    def now_ms(self) -> int:
        return int(self.broker.clock.seconds() * 1000)

    def checks(self) -> list[RemotingCommand]:
        return [c for c in self.producer.oneway if c.code == 39]

    def test_young_half_not_checked(self) -> None:
        """A half message younger than transactionTimeOut is not checked yet."""
        self.send_half(born_ms=self.now_ms())
        self.broker.clock.advance(1)
        self.assertEqual(self.checks(), [])

    def test_check_then_commit(self) -> None:
        """An old pending half message is checked; committing the checked copy delivers it."""
        self.send_half(born_ms=self.now_ms() - 10_000)
        self.broker.clock.advance(1)
        [check] = self.checks()
        self.assertTrue(check.flag & RPC_ONEWAY)
        h = CheckTransactionStateRequestHeader.from_ext(check.ext_fields)
        self.assertEqual((h.msgId, h.transactionId), ("K1", "K1"))
        body, _ = decode_message_ext(check.body or b"")
        self.assertEqual((body.topic, body.queue_id, body.body), ("T", 1, b"tx-body"))
        self.assertEqual(decode_properties(body.properties)[TRANSACTION_CHECK_TIMES], "1")
        copy = type(
            "P", (), {"queue_offset": h.tranStateTableOffset, "wrote_offset": h.commitLogOffset}
        )()
        self.assertEqual(self.end(copy, TRANSACTION_COMMIT_TYPE).code, 0)
        self.assertEqual(len(self.queue("T", 1)), 1)
        self.broker.clock.advance(1)
        self.broker.clock.advance(1)
        self.assertEqual(len(self.checks()), 1)

    def test_committed_never_checked(self) -> None:
        """A half message committed before the check is never checked."""
        put = self.send_half(born_ms=self.now_ms() - 10_000)
        self.end(put, TRANSACTION_COMMIT_TYPE)
        self.broker.clock.advance(1)
        self.broker.clock.advance(1)
        self.assertEqual(self.checks(), [])

    def test_unknown_answers_checked_again_then_discarded(self) -> None:
        """Unanswered (unknown) halves are checked each pass, then discarded after the max."""
        self.send_half(born_ms=self.now_ms() - 10_000)
        for _ in range(6):
            self.broker.clock.advance(1)
        self.assertEqual(len(self.checks()), 3)
        discarded = self.queue("TRANS_CHECK_MAX_TIME_TOPIC")
        self.assertEqual(len(discarded), 1)
        self.assertEqual(self.queue("T", 1), [])
        self.assertEqual(self.tx.checker.discarded, 1)

    def test_rolled_back_never_delivered(self) -> None:
        """A checked half rolled back by the producer never reaches the real topic."""
        self.send_half(born_ms=self.now_ms() - 10_000)
        self.broker.clock.advance(1)
        h = CheckTransactionStateRequestHeader.from_ext(self.checks()[0].ext_fields)
        copy = type(
            "P", (), {"queue_offset": h.tranStateTableOffset, "wrote_offset": h.commitLogOffset}
        )()
        self.assertEqual(self.end(copy, TRANSACTION_ROLLBACK_TYPE).code, 0)
        for _ in range(4):
            self.broker.clock.advance(1)
        self.assertEqual(len(self.checks()), 1)
        self.assertEqual(self.queue("T", 1), [])

    def test_no_producer_channel(self) -> None:
        """Without a live producer channel nothing is sent, and the pass still completes."""
        self.broker.producers.unregister("PG", self.producer)
        self.send_half(born_ms=self.now_ms() - 10_000)
        self.broker.clock.advance(1)
        self.assertEqual(self.checks(), [])
        self.assertEqual(self.tx.checker.checks_sent, 0)

    def test_failed_reput_retried_next_pass(self) -> None:
        """A failed check re-put keeps progress at the half message, so the next pass checks it."""
        store = self.broker.store
        real_put = store.put_message
        failures = [0]

        def flaky_put(msg: Any) -> Any:
            if msg.topic == HALF and failures[0] == 0:
                failures[0] += 1
                raise OSError("disk full")
            return real_put(msg)

        self.send_half(born_ms=self.now_ms() - 10_000)
        store.put_message = flaky_put
        self.broker.clock.advance(1)
        self.assertEqual((failures[0], self.checks()), (1, []))
        self.assertEqual(self.broker.offsets.query("CID_RMQ_SYS_TRANS", HALF, 0), 0)
        self.broker.clock.advance(1)
        self.assertEqual(len(self.checks()), 1)
        self.assertEqual(self.broker.offsets.query("CID_RMQ_SYS_TRANS", HALF, 0), 1)

    def test_pending_counts_each_unchecked_half_once(self) -> None:
        """A pass that stops at a young half counts it (and those after it) once each."""
        self.send_half(born_ms=self.now_ms())
        self.broker.clock.advance(1)
        self.assertEqual(self.tx.pending_count(), 1)
        self.send_half(key="K2", born_ms=self.now_ms())
        self.broker.clock.advance(1)
        self.assertEqual(self.tx.pending_count(), 2)
