"""TransactionProducer: half send, local transaction outcomes, broker checks."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.client.model import LocalTransactionState, Message
from rmq.client.producer import ProducerConfig
from rmq.client.transaction import TransactionProducer
from rmq.common import message as m
from rmq.common.message import MessageExt, encode_message_ext
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.client.fakes import FakeCluster, FakeConnection
from tests.client.helpers import make_instance, pump


class Listener:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.executed: list[Message] = []
        self.checked: list[MessageExt] = []

    def execute_local_transaction(self, msg: Message, arg: Any) -> Any:
        self.executed.append(msg)
        if isinstance(self.state, Exception):
            raise self.state
        return self.state

    def check_local_transaction(self, msg: MessageExt) -> Any:
        self.checked.append(msg)
        return LocalTransactionState.COMMIT_MESSAGE


class TransactionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.cluster = FakeCluster(self.clock, brokers=1, queues=4)
        self.cluster.ensure_topic("T")
        self.broker = self.cluster.brokers["broker-a"]
        self.inst, self.remoting = make_instance(self.clock, self.cluster)

    def producer(self, state: Any) -> tuple[TransactionProducer, Listener]:
        listener = Listener(state)
        p = TransactionProducer(self.clock, ProducerConfig("TXG"), self.inst, listener)
        self.successResultOf(p.start())
        return p, listener

    def run_tx(self, p: TransactionProducer) -> Any:
        d = p.send_in_transaction(Message("T", b"tx", tags="t", delay_level=2), "arg")
        pump(self.clock)
        return self.successResultOf(d)

    def test_commit(self) -> None:
        """A committed transaction makes the real message visible in its topic."""
        p, listener = self.producer(LocalTransactionState.COMMIT_MESSAGE)
        result = self.run_tx(p)
        self.assertEqual(result.state, LocalTransactionState.COMMIT_MESSAGE)
        self.assertEqual(len(listener.executed), 1)
        stored = self.broker.messages("T")
        self.assertEqual([x.body for x in stored], [b"tx"])
        end = self.broker.end_tx[0]
        self.assertEqual(end["commitOrRollback"], "8")
        self.assertEqual(end["producerGroup"], "TXG")
        self.assertEqual(end["fromTransactionCheck"], "false")
        self.assertEqual(end["msgId"], result.send_result.msg_id)
        self.assertTrue(self.remoting.codes(RequestCode.END_TRANSACTION)[0].is_oneway)

    def test_half_message_properties(self) -> None:
        """The half message carries TRAN_MSG, PGROUP and the PREPARED sysFlag, without DELAY."""
        p, _ = self.producer(LocalTransactionState.ROLLBACK_MESSAGE)
        self.run_tx(p)
        cmd = self.remoting.codes(RequestCode.SEND_MESSAGE_V2)[0]
        props = m.decode_properties(cmd.ext_fields["i"])
        self.assertEqual(props[m.TRAN_MSG], "true")
        self.assertEqual(props[m.PGROUP], "TXG")
        self.assertNotIn(m.DELAY, props)
        self.assertEqual(int(cmd.ext_fields["f"]) & m.TRANSACTION_MASK, m.TRANSACTION_PREPARED_TYPE)

    def test_rollback(self) -> None:
        """A rolled-back transaction never reaches the topic."""
        p, _ = self.producer(LocalTransactionState.ROLLBACK_MESSAGE)
        self.run_tx(p)
        self.assertEqual(self.broker.messages("T"), [])
        self.assertEqual(self.broker.end_tx[0]["commitOrRollback"], "12")

    def test_deferred_local_transaction(self) -> None:
        """The local transaction may answer later through a Deferred."""
        later: Deferred[LocalTransactionState] = Deferred()
        p, _ = self.producer(later)
        d = p.send_in_transaction(Message("T", b"tx"))
        pump(self.clock)
        self.assertNoResult(d)
        later.callback(LocalTransactionState.COMMIT_MESSAGE)
        self.assertEqual(self.successResultOf(d).state, LocalTransactionState.COMMIT_MESSAGE)
        self.assertEqual(len(self.broker.messages("T")), 1)

    def test_exception_means_unknown(self) -> None:
        """A raising local transaction ends as UNKNOW with the error as remark."""
        p, _ = self.producer(RuntimeError("db down"))
        result = self.run_tx(p)
        self.assertEqual(result.state, LocalTransactionState.UNKNOW)
        end_cmd = self.remoting.codes(RequestCode.END_TRANSACTION)[0]
        self.assertEqual(end_cmd.ext_fields["commitOrRollback"], "0")
        self.assertIn("db down", end_cmd.remark or "")
        self.flushLoggedErrors(RuntimeError)

    def test_check_transaction_state(self) -> None:
        """A broker check runs the check callback and answers END_TRANSACTION to that broker."""
        _p, listener = self.producer(LocalTransactionState.UNKNOW)
        half = MessageExt(
            topic="T",
            body=b"h",
            properties=m.encode_properties(
                {m.PGROUP: "TXG", m.UNIQ_KEY: "ABC", m.TRAN_MSG: "true"}
            ),
            commit_log_offset=4242,
            queue_offset=7,
        )
        req = RemotingCommand.request(
            RequestCode.CHECK_TRANSACTION_STATE,
            {
                "tranStateTableOffset": "7",
                "commitLogOffset": "4242",
                "msgId": "ABC",
                "transactionId": "ABC",
            },
            encode_message_ext(half),
            oneway=True,
        )
        conn = FakeConnection(self.broker.addr)
        self.inst.dispatcher.dispatch(conn, req)  # type: ignore[arg-type]
        pump(self.clock)
        self.assertEqual([x.body for x in listener.checked], [b"h"])
        addr, cmd = self.remoting.sent[-1]
        self.assertEqual(addr, self.broker.addr)
        self.assertEqual(cmd.code, RequestCode.END_TRANSACTION)
        self.assertEqual(cmd.ext_fields["fromTransactionCheck"], "true")
        self.assertEqual(cmd.ext_fields["commitLogOffset"], "4242")
        self.assertEqual(cmd.ext_fields["tranStateTableOffset"], "7")
        self.assertEqual(cmd.ext_fields["msgId"], "ABC")
        self.assertEqual(cmd.ext_fields["commitOrRollback"], "8")
        self.assertEqual(conn.responses, [])
