"""Admin requests forwarded to consumers: 307, 309 (with the stored record) and 223."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.clients import ClientChannelInfo
from rmq.broker.heartbeat import ConsumerData
from rmq.broker.processor.forward import (
    CALL_CLIENT_TIMEOUT,
    STATUS_TIMEOUT,
    encode_status_body,
    version_desc,
)
from rmq.common import fastjson
from rmq.common.errors import RemotingConnectError, RemotingTimeoutError
from rmq.common.message import create_offset_msg_id, decode_message_ext
from rmq.filter.tags import SubscriptionData
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import FakeConnection, make_broker, vector_command


class ClientConnection(FakeConnection):
    """A consumer's connection: records synchronous calls and lets the test answer them."""

    def __init__(self, peer: str) -> None:
        super().__init__(peer)
        self.calls: list[tuple[RemotingCommand, float, Deferred[RemotingCommand]]] = []

    def invoke(self, cmd: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
        d: Deferred[RemotingCommand] = Deferred()
        self.calls.append((cmd, timeout, d))
        return d


def _mq(queue_id: int) -> fastjson.ObjectKey:
    return fastjson.ObjectKey.of({"brokerName": "broker-a", "queueId": queue_id, "topic": "T"})


class ForwardTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.admin = FakeConnection("127.0.0.1:60000")
        self.c1 = ClientConnection("127.0.0.1:60001")
        self.c2 = ClientConnection("127.0.0.1:60002")

    def online(self, conn: FakeConnection, client_id: str, version: int = 409) -> None:
        data = ConsumerData(
            "G",
            "CONSUME_PASSIVELY",
            "CLUSTERING",
            "CONSUME_FROM_LAST_OFFSET",
            [SubscriptionData("T")],
        )
        self.broker.consumers.register(
            data, ClientChannelInfo(conn, client_id, "JAVA", version, 0.0)
        )

    def dispatch(self, code: int, ext: dict[str, str], body: bytes | None = None) -> int:
        """Send an admin request; the number of responses before it (to find its answer)."""
        before = len(self.admin.responses)
        req = RemotingCommand(code, ext_fields=ext, body=body, opaque=77)
        self.broker.dispatcher.dispatch(self.admin, req)  # type: ignore[arg-type]
        return before

    def answer(self, before: int) -> RemotingCommand:
        self.assertEqual(len(self.admin.responses), before + 1)
        resp = self.admin.responses[-1]
        self.assertEqual(resp.opaque, 77)
        return resp

    # --- 307 ---------------------------------------------------------------------------

    def test_running_info_forwarded_and_reply_passed_through(self) -> None:
        """307 reaches the named client with the same extFields; its reply comes back as is."""
        self.online(self.c1, "c1")
        self.online(self.c2, "c2")
        ext = {"consumerGroup": "G", "clientId": "c2", "jstackEnable": "false", "AccessKey": "k"}
        before = self.dispatch(RequestCode.GET_CONSUMER_RUNNING_INFO, ext)
        self.assertEqual(self.c1.calls, [])
        [(cmd, timeout, d)] = self.c2.calls
        self.assertEqual(cmd.code, RequestCode.GET_CONSUMER_RUNNING_INFO)
        self.assertEqual(cmd.ext_fields, ext)
        self.assertEqual(timeout, CALL_CLIENT_TIMEOUT)
        self.assertEqual(len(self.admin.responses), before)
        body = b'{"mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{}}}'
        reply = RemotingCommand(0, language="CPP", version=317, remark="r", body=body, flag=1)
        reply.ext_fields = {"Signature": "x"}
        d.callback(reply)
        resp = self.answer(before)
        self.assertTrue(resp.is_response)
        self.assertEqual(
            (resp.code, resp.remark, resp.body, resp.ext_fields, resp.language, resp.version),
            (0, "r", body, {"Signature": "x"}, "CPP", 317),
        )

    def test_running_info_client_error_code_passed_through(self) -> None:
        """A client's error answer (code 1 and its remark) reaches the admin unchanged."""
        self.online(self.c1, "c1")
        before = self.dispatch(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "G", "clientId": "c1"}
        )
        self.c1.calls[0][2].callback(RemotingCommand(1, remark="not exist in this consumer"))
        resp = self.answer(before)
        self.assertEqual((resp.code, resp.remark), (1, "not exist in this consumer"))

    def test_running_info_client_not_online(self) -> None:
        """An unknown client id is refused with SYSTEM_ERROR and RocketMQ's remark."""
        self.online(self.c1, "c1")
        before = self.dispatch(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "G", "clientId": "cX"}
        )
        resp = self.answer(before)
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(resp.remark, "The Consumer <G> <cX> not online")
        self.assertEqual(self.c1.calls, [])

    def test_running_info_group_unknown(self) -> None:
        """A group with no channel at all is refused the same way."""
        before = self.dispatch(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "N", "clientId": "c1"}
        )
        self.assertEqual(self.answer(before).remark, "The Consumer <N> <c1> not online")

    def test_running_info_version_too_old(self) -> None:
        """A channel older than V3_1_8_SNAPSHOT (62) is refused without a call."""
        self.online(self.c1, "c1", version=61)
        before = self.dispatch(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "G", "clientId": "c1"}
        )
        resp = self.answer(before)
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(
            resp.remark,
            "The Consumer <c1> Version <V3_1_7> too low to finish, please upgrade it to "
            "V3_1_8_SNAPSHOT",
        )
        self.assertEqual(self.c1.calls, [])

    def test_running_info_version_gate_boundary(self) -> None:
        """Version 62 itself is forwarded."""
        self.online(self.c1, "c1", version=62)
        self.dispatch(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "G", "clientId": "c1"}
        )
        self.assertEqual(len(self.c1.calls), 1)

    def test_running_info_timeout(self) -> None:
        """No answer in time gives CONSUME_MSG_TIMEOUT (207)."""
        self.online(self.c1, "c1")
        before = self.dispatch(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "G", "clientId": "c1"}
        )
        self.c1.calls[0][2].errback(RemotingTimeoutError("GET_CONSUMER_RUNNING_INFO timed out"))
        resp = self.answer(before)
        self.assertEqual(resp.code, ResponseCode.CONSUME_MSG_TIMEOUT)
        self.assertEqual(
            resp.remark, "consumer <G> <c1> Timeout: GET_CONSUMER_RUNNING_INFO timed out"
        )

    def test_running_info_connection_lost(self) -> None:
        """Any other failure of the call gives SYSTEM_ERROR naming the exception."""
        self.online(self.c1, "c1")
        before = self.dispatch(
            RequestCode.GET_CONSUMER_RUNNING_INFO, {"consumerGroup": "G", "clientId": "c1"}
        )
        self.c1.calls[0][2].errback(RemotingConnectError("gone"))
        resp = self.answer(before)
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(resp.remark, "invoke consumer <G> <c1> Exception: gone")

    # --- 309 ---------------------------------------------------------------------------

    def send(self) -> str:
        """Store one message from a captured SEND frame; its offset message id."""
        producer = FakeConnection("127.0.0.1:50000")
        self.broker.dispatcher.dispatch(producer, vector_command("cpp-send_message-request.bin"))  # type: ignore[arg-type]
        self.assertEqual(producer.responses[-1].code, 0)
        return create_offset_msg_id("127.0.0.1", 10911, 0)

    def test_consume_directly_sends_stored_record(self) -> None:
        """309 carries the stored record at the msgId's offset and the broker's own name."""
        msg_id = self.send()
        self.online(self.c1, "c1")
        ext = {"consumerGroup": "G", "clientId": "c1", "msgId": msg_id, "brokerName": "other"}
        before = self.dispatch(RequestCode.CONSUME_MESSAGE_DIRECTLY, ext)
        [(cmd, _, d)] = self.c1.calls
        self.assertEqual(cmd.code, RequestCode.CONSUME_MESSAGE_DIRECTLY)
        self.assertEqual(cmd.ext_fields["brokerName"], "broker-a")
        self.assertEqual(cmd.ext_fields["msgId"], msg_id)
        msg, _ = decode_message_ext(cmd.body or b"")
        self.assertEqual(msg.commit_log_offset, 0)
        self.assertEqual(cmd.body, self.broker.store.look_message_by_offset(0))
        result = (
            b'{"autoCommit":true,"consumeResult":"CR_SUCCESS","order":false,"spentTimeMills":3}'
        )
        d.callback(RemotingCommand(0, body=result))
        resp = self.answer(before)
        self.assertEqual((resp.code, resp.body), (0, result))

    def test_consume_directly_message_missing(self) -> None:
        """An offset with no stored record is refused without calling the client."""
        self.online(self.c1, "c1")
        msg_id = create_offset_msg_id("127.0.0.1", 10911, 4096)
        ext = {"consumerGroup": "G", "clientId": "c1", "msgId": msg_id}
        resp = self.answer(self.dispatch(RequestCode.CONSUME_MESSAGE_DIRECTLY, ext))
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(self.c1.calls, [])

    def test_consume_directly_client_offline(self) -> None:
        """A stored message for a client that is not online is refused like 307."""
        msg_id = self.send()
        ext = {"consumerGroup": "G", "clientId": "c1", "msgId": msg_id}
        resp = self.answer(self.dispatch(RequestCode.CONSUME_MESSAGE_DIRECTLY, ext))
        self.assertEqual((resp.code, resp.remark), (1, "The Consumer <G> <c1> not online"))

    # --- 223 ---------------------------------------------------------------------------

    def status_ext(self, client: str | None = None) -> dict[str, str]:
        ext = {"topic": "T", "group": "G"}
        if client is not None:
            ext["clientAddr"] = client
        return ext

    def client_status(self, table: dict[int, int]) -> RemotingCommand:
        body = {"messageQueueTable": {_mq(q): o for q, o in table.items()}}
        return RemotingCommand(0, body=fastjson.dumpb(body))

    def test_consumer_status_gathers_every_client(self) -> None:
        """223 asks each client with 221 (topic, group) and merges their tables by client id."""
        self.online(self.c1, "c1")
        self.online(self.c2, "c2")
        before = self.dispatch(
            RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.status_ext("")
        )
        [(cmd1, t1, d1)] = self.c1.calls
        [(_, _, d2)] = self.c2.calls
        self.assertEqual(cmd1.code, RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT)
        self.assertEqual(cmd1.ext_fields, {"topic": "T", "group": "G"})
        self.assertEqual(t1, STATUS_TIMEOUT)
        d1.callback(self.client_status({0: 5, 1: 7}))
        self.assertEqual(len(self.admin.responses), before)
        d2.callback(self.client_status({2: 9}))
        resp = self.answer(before)
        self.assertEqual(resp.code, 0)
        body: Any = fastjson.loads(resp.body or b"")
        self.assertEqual(body["messageQueueTable"], {})
        self.assertEqual(body["consumerTable"], {"c1": {_mq(0): 5, _mq(1): 7}, "c2": {_mq(2): 9}})

    def test_consumer_status_one_client(self) -> None:
        """With clientAddr only that client is asked."""
        self.online(self.c1, "c1")
        self.online(self.c2, "c2")
        before = self.dispatch(
            RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.status_ext("c2")
        )
        self.assertEqual(self.c1.calls, [])
        self.c2.calls[0][2].callback(self.client_status({0: 1}))
        body: Any = fastjson.loads(self.answer(before).body or b"")
        self.assertEqual(body["consumerTable"], {"c2": {_mq(0): 1}})

    def test_consumer_status_skips_failed_clients(self) -> None:
        """A client that times out, errs or sends junk is left out; the rest still answer."""
        c3 = ClientConnection("127.0.0.1:60003")
        self.online(self.c1, "c1")
        self.online(self.c2, "c2")
        self.online(c3, "c3")
        before = self.dispatch(RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.status_ext())
        self.c1.calls[0][2].errback(RemotingTimeoutError("late"))
        self.c2.calls[0][2].callback(RemotingCommand(0, body=b"{not json"))
        c3.calls[0][2].callback(self.client_status({3: 4}))
        resp = self.answer(before)
        self.assertEqual(resp.code, 0)
        self.assertEqual(fastjson.loads(resp.body or b"")["consumerTable"], {"c3": {_mq(3): 4}})

    def test_consumer_status_nobody_online(self) -> None:
        """No channel in the group gives SYSTEM_ERROR with RocketMQ's remark."""
        resp = self.answer(
            self.dispatch(RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.status_ext())
        )
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(resp.remark, "No Any Consumer online in the consumer group: [G]")

    def test_consumer_status_old_client(self) -> None:
        """A channel older than V3_0_7_SNAPSHOT (28) fails the whole request."""
        self.online(self.c1, "c1", version=27)
        resp = self.answer(
            self.dispatch(RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.status_ext())
        )
        self.assertEqual(resp.code, ResponseCode.SYSTEM_ERROR)
        self.assertEqual(resp.remark, "the client does not support this feature. version=V3_0_6")
        self.assertEqual(self.c1.calls, [])

    def test_consumer_status_invoke_raises(self) -> None:
        """A connection whose invoke raises at once is skipped, not fatal."""

        def broken(cmd: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
            raise RemotingConnectError("closed")

        self.online(self.c1, "c1")
        self.online(self.c2, "c2")
        self.c1.invoke = broken  # type: ignore[method-assign]
        before = self.dispatch(RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.status_ext())
        self.c2.calls[0][2].callback(self.client_status({0: 2}))
        resp = self.answer(before)
        self.assertEqual(resp.code, 0)
        self.assertEqual(fastjson.loads(resp.body or b"")["consumerTable"], {"c2": {_mq(0): 2}})

    def test_running_info_invoke_raises(self) -> None:
        """A connection whose invoke raises at once gives SYSTEM_ERROR, not a crash."""

        def broken(cmd: RemotingCommand, timeout: float) -> Deferred[RemotingCommand]:
            raise RemotingConnectError("closed")

        self.online(self.c1, "c1")
        self.c1.invoke = broken  # type: ignore[method-assign]
        ext = {"consumerGroup": "G", "clientId": "c1"}
        resp = self.answer(self.dispatch(RequestCode.GET_CONSUMER_RUNNING_INFO, ext))
        self.assertEqual(
            (resp.code, resp.remark), (1, "invoke consumer <G> <c1> Exception: closed")
        )


class HelperTests(SynchronousTestCase):
    def test_version_desc(self) -> None:
        """Ordinals map to MQVersion names at the gates §1.7 lists."""
        self.assertEqual(version_desc(0), "V3_0_0_SNAPSHOT")
        self.assertEqual(version_desc(28), "V3_0_7_SNAPSHOT")
        self.assertEqual(version_desc(37), "V3_0_11")
        self.assertEqual(version_desc(62), "V3_1_8_SNAPSHOT")
        self.assertEqual(version_desc(409), "409")

    def test_encode_status_body_object_keys(self) -> None:
        """GetConsumerStatusBody keeps MessageQueue keys as objects (fastjson form)."""
        text = encode_status_body({"c1": {_mq(0): 3}})
        self.assertEqual(
            text,
            b'{"consumerTable":{"c1":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:3}},'
            b'"messageQueueTable":{}}',
        )
