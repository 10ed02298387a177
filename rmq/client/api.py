"""MQClientAPI: one typed Deferred RPC per request code a client sends.

Each call builds its command from a typed header, sends it through an ``IRemotingClient``,
checks the response code (``RemoteError(code, remark)`` otherwise) and returns a typed result.
Pure protocol: no caches, no timers; routing decisions belong to the client instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred

from rmq import headers as h
from rmq.client.model import (
    MessageQueue,
    PullResult,
    PullStatus,
    SendResult,
    SendStatus,
)
from rmq.common import fastjson
from rmq.common import message as m
from rmq.common.errors import BodyError, RemoteError
from rmq.common.message import MessageExt
from rmq.common.route import TopicRouteData
from rmq.filter.tags import SubscriptionData, tag_matches
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.headers import CommandHeader
from rmq.remoting.interfaces import IRemotingClient

# PullSysFlag bits (REFERENCE §3.3).
PULL_COMMIT_OFFSET = 0x1
PULL_SUSPEND = 0x2
PULL_SUBSCRIPTION = 0x4

_SEND_STATUS = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}
_PULL_STATUS = {
    ResponseCode.SUCCESS: PullStatus.FOUND,
    ResponseCode.PULL_NOT_FOUND: PullStatus.NO_NEW_MSG,
    ResponseCode.PULL_RETRY_IMMEDIATELY: PullStatus.NO_MATCHED_MSG,
    ResponseCode.PULL_OFFSET_MOVED: PullStatus.OFFSET_ILLEGAL,
}


def check_response(resp: RemotingCommand, *ok: int) -> RemotingCommand:
    """``resp`` when its code is one of ``ok`` (SUCCESS by default), else RemoteError."""
    if resp.code not in (ok or (0,)):
        raise RemoteError(resp.code, resp.remark or "")
    return resp


def _ok(resp: RemotingCommand) -> None:
    """Callback: raise unless the response is SUCCESS."""
    check_response(resp)


def json_body(resp: RemotingCommand) -> Any:
    """The response's JSON body; BodyError when absent or not JSON."""
    if not resp.body:
        raise BodyError(f"response to request has no body (code {resp.code})")
    try:
        return fastjson.loads(resp.body)
    except (fastjson.JSONDecodeError, UnicodeDecodeError) as e:
        raise BodyError(f"response body is not JSON: {e}") from e


def decode_pull_messages(
    body: bytes, subscription: SubscriptionData | None = None
) -> list[MessageExt]:
    """Decode a pull body: inflate compressed bodies and re-filter tags by exact string."""
    out: list[MessageExt] = []
    for msg in m.iter_messages(body):
        if msg.sys_flag & m.COMPRESSED_FLAG:
            flag = msg.sys_flag & ~(m.COMPRESSED_FLAG | m.COMPRESSION_TYPE_MASK)
            msg = _evolve(msg, body=m.decompress_body(msg.body, msg.sys_flag), sys_flag=flag)
        if subscription is not None and not tag_matches(subscription, msg.tags):
            continue
        out.append(msg)
    return out


def _evolve(msg: MessageExt, **changes: Any) -> MessageExt:
    return attrs.evolve(msg, **changes)


class MQClientAPI:
    """Typed RPCs over an ``IRemotingClient`` (timeouts in seconds)."""

    def __init__(self, remoting: IRemotingClient, language: str = "JAVA") -> None:
        self.remoting = remoting
        self.language = language

    def _cmd(
        self,
        code: int,
        header: CommandHeader | None = None,
        body: bytes | None = None,
        oneway: bool = False,
    ) -> RemotingCommand:
        ext = header.to_ext() if header is not None else None
        return RemotingCommand.request(code, ext, body, oneway=oneway, language=self.language)

    def invoke(
        self, addr: str, code: int, header: CommandHeader | None, body: bytes | None, timeout: float
    ) -> Deferred[RemotingCommand]:
        """Send one request and fire with the raw response."""
        return self.remoting.invoke(addr, self._cmd(code, header, body), timeout)

    def oneway(
        self, addr: str, code: int, header: CommandHeader | None, body: bytes | None = None
    ) -> Deferred[None]:
        """Send one request with the oneway bit."""
        return self.remoting.invoke_oneway(addr, self._cmd(code, header, body, oneway=True))

    # --- name server ----------------------------------------------------------------

    def get_route(self, addr: str, topic: str, timeout: float) -> Deferred[TopicRouteData]:
        """GET_ROUTEINFO_BY_TOPIC; ``RemoteError`` code 17 when the topic is unknown."""
        header = h.GetRouteInfoRequestHeader(topic)

        def done(resp: RemotingCommand) -> TopicRouteData:
            check_response(resp)
            return TopicRouteData.from_json(resp.body or b"{}")

        return self.invoke(
            addr, RequestCode.GET_ROUTEINFO_BY_TOPIC, header, None, timeout
        ).addCallback(done)

    # --- send ---------------------------------------------------------------------

    def send_message(
        self,
        addr: str,
        mq: MessageQueue,
        header: h.SendMessageRequestHeaderV2,
        body: bytes,
        msg_id: str,
        timeout: float,
        *,
        use_v2: bool = True,
    ) -> Deferred[SendResult]:
        """SEND_MESSAGE_V2 (or SEND_BATCH_MESSAGE when ``header.batch``); fires when stored."""
        code, hdr = self._send_command(header, use_v2)

        def done(resp: RemotingCommand) -> SendResult:
            return self.send_result(resp, mq, msg_id)

        return self.invoke(addr, code, hdr, body, timeout).addCallback(done)

    def send_message_oneway(
        self, addr: str, header: h.SendMessageRequestHeaderV2, body: bytes, *, use_v2: bool = True
    ) -> Deferred[None]:
        """Send without waiting for the broker's answer."""
        code, hdr = self._send_command(header, use_v2)
        return self.oneway(addr, code, hdr, body)

    @staticmethod
    def _send_command(
        header: h.SendMessageRequestHeaderV2, use_v2: bool
    ) -> tuple[int, CommandHeader]:
        if header.batch:
            return RequestCode.SEND_BATCH_MESSAGE, header
        if use_v2:
            return RequestCode.SEND_MESSAGE_V2, header
        v1 = h.SendMessageRequestHeader(
            header.producerGroup,
            header.topic,
            header.defaultTopic,
            header.defaultTopicQueueNums,
            header.queueId,
            header.sysFlag,
            header.bornTimestamp,
            header.flag,
            header.properties,
            header.reconsumeTimes,
            header.unitMode,
            header.batch,
            header.maxReconsumeTimes,
            header.brokerName,
        )
        return RequestCode.SEND_MESSAGE, v1

    @staticmethod
    def send_result(resp: RemotingCommand, mq: MessageQueue, msg_id: str) -> SendResult:
        """Build a SendResult from a send response (REFERENCE §3.2)."""
        status = _SEND_STATUS.get(resp.code)  # type: ignore[call-overload]
        if status is None:
            raise RemoteError(resp.code, resp.remark or "")
        rh = h.SendMessageResponseHeader.from_ext(resp.ext_fields)
        return SendResult(
            status,
            msg_id,
            rh.msgId,
            MessageQueue(mq.topic, mq.broker_name, rh.queueId),
            rh.queueOffset,
            rh.MSG_REGION or "DefaultRegion",
            rh.TRACE_ON != "false",
            rh.transactionId,
        )

    # --- pull -----------------------------------------------------------------------

    def pull_message(
        self,
        addr: str,
        header: h.PullMessageRequestHeader,
        timeout: float,
        subscription: SubscriptionData | None = None,
    ) -> Deferred[PullResult]:
        """PULL_MESSAGE; FOUND results hold decoded, tag-filtered messages."""

        def done(resp: RemotingCommand) -> PullResult:
            status = _PULL_STATUS.get(resp.code)  # type: ignore[call-overload]
            if status is None:
                raise RemoteError(resp.code, resp.remark or "")
            rh = h.PullMessageResponseHeader.from_ext(resp.ext_fields)
            msgs: list[MessageExt] = []
            if status is PullStatus.FOUND and resp.body:
                msgs = decode_pull_messages(resp.body, subscription)
            return PullResult(
                status,
                rh.nextBeginOffset,
                rh.minOffset,
                rh.maxOffset,
                msgs,
                rh.suggestWhichBrokerId,
            )

        return self.invoke(addr, RequestCode.PULL_MESSAGE, header, None, timeout).addCallback(done)

    # --- offsets --------------------------------------------------------------------

    def query_consumer_offset(
        self, addr: str, group: str, mq: MessageQueue, timeout: float
    ) -> Deferred[int]:
        """QUERY_CONSUMER_OFFSET; -1 when the broker has none (code 22)."""
        header = h.QueryConsumerOffsetRequestHeader(group, mq.topic, mq.queue_id, mq.broker_name)

        def done(resp: RemotingCommand) -> int:
            if resp.code == ResponseCode.QUERY_NOT_FOUND:
                return -1
            check_response(resp)
            return h.OffsetResponseHeader.from_ext(resp.ext_fields).offset

        return self.invoke(
            addr, RequestCode.QUERY_CONSUMER_OFFSET, header, None, timeout
        ).addCallback(done)

    def update_consumer_offset(
        self, addr: str, group: str, mq: MessageQueue, offset: int, timeout: float
    ) -> Deferred[None]:
        """UPDATE_CONSUMER_OFFSET as a two-way call (so shutdown knows it arrived)."""
        header = h.UpdateConsumerOffsetRequestHeader(
            group, mq.topic, mq.queue_id, offset, mq.broker_name
        )
        d = self.invoke(addr, RequestCode.UPDATE_CONSUMER_OFFSET, header, None, timeout)
        return d.addCallback(_ok)

    def _offset_call(
        self, addr: str, code: int, header: CommandHeader, timeout: float
    ) -> Deferred[int]:
        def done(resp: RemotingCommand) -> int:
            check_response(resp)
            return h.OffsetResponseHeader.from_ext(resp.ext_fields).offset

        return self.invoke(addr, code, header, None, timeout).addCallback(done)

    def get_max_offset(self, addr: str, mq: MessageQueue, timeout: float) -> Deferred[int]:
        """GET_MAX_OFFSET: the queue's next offset to be written."""
        header = h.QueueOffsetRequestHeader(mq.topic, mq.queue_id, mq.broker_name)
        return self._offset_call(addr, RequestCode.GET_MAX_OFFSET, header, timeout)

    def get_min_offset(self, addr: str, mq: MessageQueue, timeout: float) -> Deferred[int]:
        """GET_MIN_OFFSET: the queue's lowest offset still stored."""
        header = h.QueueOffsetRequestHeader(mq.topic, mq.queue_id, mq.broker_name)
        return self._offset_call(addr, RequestCode.GET_MIN_OFFSET, header, timeout)

    def search_offset(
        self, addr: str, mq: MessageQueue, timestamp_ms: int, timeout: float
    ) -> Deferred[int]:
        """SEARCH_OFFSET_BY_TIMESTAMP."""
        header = h.SearchOffsetRequestHeader(mq.topic, mq.queue_id, timestamp_ms, mq.broker_name)
        return self._offset_call(addr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, header, timeout)

    # --- client management ------------------------------------------------------------

    def heartbeat(self, addr: str, heartbeat: dict[str, Any], timeout: float) -> Deferred[int]:
        """HEART_BEAT; fires with the broker's version from the response."""
        body = fastjson.dumpb(heartbeat)

        def done(resp: RemotingCommand) -> int:
            check_response(resp)
            return resp.version

        return self.invoke(addr, RequestCode.HEART_BEAT, None, body, timeout).addCallback(done)

    def unregister_client(
        self,
        addr: str,
        client_id: str,
        producer_group: str | None,
        consumer_group: str | None,
        timeout: float,
    ) -> Deferred[None]:
        """UNREGISTER_CLIENT for one producer or consumer group."""
        header = h.UnregisterClientRequestHeader(client_id, producer_group, consumer_group)
        d = self.invoke(addr, RequestCode.UNREGISTER_CLIENT, header, None, timeout)
        return d.addCallback(_ok)

    def get_consumer_id_list(self, addr: str, group: str, timeout: float) -> Deferred[list[str]]:
        """GET_CONSUMER_LIST_BY_GROUP: the client ids currently in the group."""
        header = h.GetConsumerListByGroupRequestHeader(group)

        def done(resp: RemotingCommand) -> list[str]:
            check_response(resp)
            body = json_body(resp)
            return [str(c) for c in body.get("consumerIdList") or []]

        return self.invoke(
            addr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, header, None, timeout
        ).addCallback(done)

    def check_client_config(
        self, addr: str, client_id: str, group: str, sub: SubscriptionData, timeout: float
    ) -> Deferred[None]:
        """CHECK_CLIENT_CONFIG: does the broker accept this (SQL92) subscription?"""
        body = fastjson.dumpb(
            {"clientId": client_id, "group": group, "subscriptionData": sub.to_json()}
        )
        d = self.invoke(addr, RequestCode.CHECK_CLIENT_CONFIG, None, body, timeout)
        return d.addCallback(_ok)

    def send_back(
        self,
        addr: str,
        msg: MessageExt,
        group: str,
        delay_level: int,
        max_reconsume_times: int,
        timeout: float,
        broker_name: str | None = None,
    ) -> Deferred[None]:
        """CONSUMER_SEND_MSG_BACK: hand a failed message to the broker's retry machinery."""
        header = h.ConsumerSendMsgBackRequestHeader(
            msg.commit_log_offset,
            group,
            delay_level,
            msg.msg_id,
            msg.topic,
            False,
            max_reconsume_times,
            broker_name,
        )
        d = self.invoke(addr, RequestCode.CONSUMER_SEND_MSG_BACK, header, None, timeout)
        return d.addCallback(_ok)

    def lock_batch_mq(
        self, addr: str, group: str, client_id: str, mqs: Iterable[MessageQueue], timeout: float
    ) -> Deferred[set[MessageQueue]]:
        """LOCK_BATCH_MQ; fires with the queues the broker granted."""
        body = fastjson.dumpb(
            {
                "clientId": client_id,
                "consumerGroup": group,
                "mqSet": [q.to_obj() for q in sorted(mqs)],
            }
        )

        def done(resp: RemotingCommand) -> set[MessageQueue]:
            check_response(resp)
            obj = json_body(resp)
            return {MessageQueue.from_obj(q) for q in obj.get("lockOKMQSet") or []}

        return self.invoke(addr, RequestCode.LOCK_BATCH_MQ, None, body, timeout).addCallback(done)

    def unlock_batch_mq(
        self, addr: str, group: str, client_id: str, mqs: Iterable[MessageQueue], timeout: float
    ) -> Deferred[None]:
        """UNLOCK_BATCH_MQ for queues this client no longer consumes."""
        body = fastjson.dumpb(
            {
                "clientId": client_id,
                "consumerGroup": group,
                "mqSet": [q.to_obj() for q in sorted(mqs)],
            }
        )
        d = self.invoke(addr, RequestCode.UNLOCK_BATCH_MQ, None, body, timeout)
        return d.addCallback(_ok)

    # --- transactions -------------------------------------------------------------------

    def end_transaction(
        self, addr: str, header: h.EndTransactionRequestHeader, remark: str | None = None
    ) -> Deferred[None]:
        """END_TRANSACTION, oneway as the Java producer sends it."""
        cmd = self._cmd(RequestCode.END_TRANSACTION, header, None, oneway=True)
        cmd.remark = remark
        return self.remoting.invoke_oneway(addr, cmd)

    # --- queries ------------------------------------------------------------------------

    def view_message(
        self, addr: str, commit_log_offset: int, timeout: float
    ) -> Deferred[MessageExt]:
        """VIEW_MESSAGE_BY_ID: the stored message at a commit-log offset."""
        header = h.ViewMessageRequestHeader(commit_log_offset)

        def done(resp: RemotingCommand) -> MessageExt:
            check_response(resp)
            msgs = decode_pull_messages(resp.body or b"")
            if not msgs:
                raise BodyError("VIEW_MESSAGE_BY_ID answered with no message")
            return msgs[0]

        return self.invoke(addr, RequestCode.VIEW_MESSAGE_BY_ID, header, None, timeout).addCallback(
            done
        )

    def query_message(
        self,
        addr: str,
        topic: str,
        key: str,
        max_num: int,
        begin_ms: int,
        end_ms: int,
        timeout: float,
        unique_key: bool = False,
    ) -> Deferred[list[MessageExt]]:
        """QUERY_MESSAGE by key (or by UNIQ_KEY with ``unique_key``); [] when none found."""
        header = h.QueryMessageRequestHeader(topic, key, max_num, begin_ms, end_ms)
        cmd = self._cmd(RequestCode.QUERY_MESSAGE, header)
        if unique_key:
            cmd.ext_fields["_UNIQUE_KEY_QUERY"] = "true"

        def done(resp: RemotingCommand) -> list[MessageExt]:
            if resp.code == ResponseCode.QUERY_NOT_FOUND:
                return []
            check_response(resp)
            return decode_pull_messages(resp.body or b"")

        return self.remoting.invoke(addr, cmd, timeout).addCallback(done)


def mq_list_obj(mqs: Sequence[MessageQueue]) -> list[dict[str, Any]]:
    """MessageQueue objects as Java writes them in arrays."""
    return [q.to_obj() for q in mqs]
