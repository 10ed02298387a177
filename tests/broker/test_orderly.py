"""Tests for LOCK_BATCH_MQ / UNLOCK_BATCH_MQ with the C++ client's captured frames."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.locks import MessageQueue, RebalanceLockManager
from rmq.broker.processor import orderly
from rmq.common.errors import BodyError
from rmq.remoting.codec import FrameDecoder
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from tests.vectors import vectors_dir

VECTORS = vectors_dir()


def vector(name: str) -> RemotingCommand:
    (cmd,) = FrameDecoder().feed((VECTORS / name).read_bytes())
    return cmd


def vector_body(name: str) -> Any:
    data = (VECTORS / name).read_bytes()
    header_len = int.from_bytes(data[4:8], "big") & 0xFFFFFF
    return json.loads(data[8 + header_len :])


class FakeConnection:
    peer = "127.0.0.1:5555"

    def __init__(self) -> None:
        self.sent: list[RemotingCommand] = []

    def send_response(self, cmd: RemotingCommand) -> None:
        self.sent.append(cmd)


class FakeBroker:
    def __init__(self) -> None:
        self.clock = Clock()
        self.locks = RebalanceLockManager()


class OrderlyTests(SynchronousTestCase):
    """The lock processors behind a real dispatcher."""

    def setUp(self) -> None:
        self.broker = FakeBroker()
        self.dispatcher = Dispatcher()
        orderly.register(self.dispatcher, self.broker)
        self.conn = FakeConnection()

    def call(self, cmd: RemotingCommand) -> RemotingCommand:
        self.dispatcher.dispatch(self.conn, cmd)  # type: ignore[arg-type]
        return self.conn.sent.pop()

    def lock_request(self, client: str, mqs: list[MessageQueue]) -> RemotingCommand:
        body = orderly.LockBatchBody(client, "G", mqs).encode()
        return RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, body=body)

    def test_cpp_lock_vector(self) -> None:
        """The C++ lock request is answered with the body shape the C++ client accepted."""
        request = vector("cpp-lock_batch_mq-request.bin")
        response = self.call(request)
        self.assertEqual(response.code, 0)
        self.assertEqual(response.opaque, request.opaque)
        self.assertTrue(response.is_response)
        accepted = vector_body("broker-lock_batch_mq-response-accepted-by-cpp.bin")
        assert response.body is not None
        self.assertEqual(json.loads(response.body), accepted)

    def test_second_client_refused_until_expiry(self) -> None:
        """A queue locked by one client is absent from another's answer until 60 s pass."""
        q = MessageQueue("T", "broker-a", 0)
        self.call(self.lock_request("c1", [q]))
        refused = self.call(self.lock_request("c2", [q]))
        self.assertEqual(json.loads(refused.body or b""), {"lockOKMQSet": []})
        self.broker.clock.advance(61)
        granted = self.call(self.lock_request("c2", [q]))
        self.assertEqual(json.loads(granted.body or b"")["lockOKMQSet"], [q.to_json()])

    def test_cpp_unlock_vector(self) -> None:
        """The C++ unlock request releases the client's queues and answers SUCCESS."""
        lock = vector("cpp-lock_batch_mq-request.bin")
        self.call(lock)
        unlock = vector("cpp-unlock_batch_mq-request.bin")
        body = orderly.LockBatchBody.decode(unlock.body)
        self.broker.locks.try_lock_batch(body.consumer_group, body.mqs, body.client_id, 0.0)
        response = self.call(unlock)
        self.assertEqual((response.code, response.body), (0, None))
        for mq in body.mqs:
            self.assertIsNone(self.broker.locks.holder(body.consumer_group, mq, 1.0))
        retry_q0 = MessageQueue("%RETRY%CapOrderlyGroup", "broker-a", 0)
        self.assertEqual(self.broker.locks.holder("CapOrderlyGroup", retry_q0, 1.0), body.client_id)

    def test_bad_body_is_system_error(self) -> None:
        """A missing or malformed body is answered SYSTEM_ERROR with a remark."""
        for body in (
            None,
            b"not json",
            b'{"clientId":"c"}',
            b'{"clientId":"c","consumerGroup":"G","mqSet":[1]}',
        ):
            response = self.call(RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, body=body))
            self.assertEqual(response.code, 1)
            self.assertTrue(response.remark)

    def test_decode_names_field(self) -> None:
        """LockBatchBody.decode names the missing field."""
        with self.assertRaises(BodyError) as ctx:
            orderly.LockBatchBody.decode(b'{"clientId":"c"}')
        self.assertIn("consumerGroup", ctx.exception.remark)
