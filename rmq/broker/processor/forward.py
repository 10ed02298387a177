"""Admin requests the broker forwards to its consumers (REFERENCE §3.7, §3.8, §1.7).

* GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309): the broker finds the
  channel of ``consumerGroup``/``clientId``, re-sends the request (same extFields and body) to
  that client and answers the admin with the client's reply as it is (code, remark, extFields,
  body: the C++ client's non-JSON running info passes untouched). For 309 the broker first sets
  ``brokerName`` to its own name and the body to the stored record the offset ``msgId`` names.
  A missing channel, or one older than V3_1_8_SNAPSHOT, is refused with SYSTEM_ERROR; no reply
  in time gives CONSUME_MSG_TIMEOUT.
* INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223): every live client of the group (or the one whose
  client id is ``clientAddr``) is asked with GET_CONSUMER_STATUS_FROM_CLIENT (221); their
  ``messageQueueTable`` answers are gathered into GetConsumerStatusBody's ``consumerTable``.
  A client that fails or answers badly is left out, as in Java.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.broker.clients import ClientChannelInfo
from rmq.common import fastjson
from rmq.common.errors import RemotingTimeoutError, RMQError
from rmq.common.message import decode_offset_msg_id
from rmq.headers import (
    ConsumeMessageDirectlyRequestHeader,
    GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader,
)
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = [
    "CALL_CLIENT_TIMEOUT",
    "STATUS_TIMEOUT",
    "V3_0_7_SNAPSHOT",
    "V3_1_8_SNAPSHOT",
    "ForwardProcessor",
    "encode_status_body",
    "register",
    "version_desc",
]

_log = Logger()

CALL_CLIENT_TIMEOUT = 10.0
"""Seconds the broker waits for a client's answer to a forwarded 307/309 (Broker2Client)."""
STATUS_TIMEOUT = 5.0
"""Seconds the broker waits for each client's answer to GET_CONSUMER_STATUS_FROM_CLIENT."""
V3_0_7_SNAPSHOT = 28
"""Oldest client version that answers GET_CONSUMER_STATUS_FROM_CLIENT."""
V3_1_8_SNAPSHOT = 62
"""Oldest client version the broker forwards 307/309 to."""

_V3_0_0 = [
    "SNAPSHOT",
    "ALPHA1",
    "BETA1",
    "BETA2",
    "BETA3",
    "BETA4",
    "BETA5",
    "BETA6_SNAPSHOT",
    "BETA6",
    "BETA7_SNAPSHOT",
    "BETA7",
    "BETA8_SNAPSHOT",
    "BETA8",
    "BETA9_SNAPSHOT",
    "BETA9",
    "FINAL",
]
_RELEASES = (
    [f"3_0_{i}" for i in range(1, 16)]
    + [f"3_1_{i}" for i in range(10)]
    + [f"3_2_{i}" for i in range(10)]
)


def version_desc(ordinal: int) -> str:
    """MQVersion name of a version ordinal (exact up to V3_2_9; the ordinal beyond)."""
    if 0 <= ordinal < len(_V3_0_0):
        return f"V3_0_0_{_V3_0_0[ordinal]}"
    idx, release = divmod(ordinal - len(_V3_0_0), 2)
    if 0 <= idx < len(_RELEASES):
        return f"V{_RELEASES[idx]}" + ("" if release else "_SNAPSHOT")
    return str(ordinal)


def encode_status_body(consumer_table: dict[str, dict[Any, Any]]) -> bytes:
    """GetConsumerStatusBody with only ``consumerTable`` filled (MessageQueue object keys)."""
    return fastjson.dumpb({"consumerTable": consumer_table, "messageQueueTable": {}})


def _status_table(body: bytes) -> dict[Any, Any] | None:
    """The ``messageQueueTable`` of a client's GetConsumerStatusBody (None when unreadable)."""
    try:
        obj = fastjson.loads(body)
    except ValueError:
        return None
    table = obj.get("messageQueueTable") if isinstance(obj, dict) else None
    return dict(table) if isinstance(table, dict) else None


class ForwardProcessor:
    """Handlers for 307, 309 and 223; reads ``broker.consumers`` and ``broker.store``."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self.running_info)
        dispatcher.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self.consume_directly)
        dispatcher.register(RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, self.consumer_status)

    # --- 307 / 309 ---------------------------------------------------------------------

    def running_info(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Deferred[RemotingCommand | None]:
        """GET_CONSUMER_RUNNING_INFO: forward to the client, answer with its reply."""
        h = GetConsumerRunningInfoRequestHeader.from_ext(request.ext_fields)
        return self.call_consumer(request, h.consumerGroup, h.clientId)

    def consume_directly(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Deferred[RemotingCommand | None]:
        """CONSUME_MESSAGE_DIRECTLY: attach the stored record and forward to the client."""
        h = ConsumeMessageDirectlyRequestHeader.from_ext(request.ext_fields)
        request.ext_fields["brokerName"] = self.broker.config.broker_name
        if h.msgId:
            _, _, offset = decode_offset_msg_id(h.msgId)
            record = self.broker.store.look_message_by_offset(offset)
            if record is None:
                return request.make_response(
                    ResponseCode.SYSTEM_ERROR, f"can not find message by the offset, {offset}"
                )
            request.body = bytes(record)
        return self.call_consumer(request, h.consumerGroup, h.clientId or "")

    def find_channel(self, group: str, client_id: str) -> ClientChannelInfo | None:
        """The channel of ``client_id`` in ``group``, if it is online."""
        info = self.broker.consumers.get(group)
        if info is None:
            return None
        for channel in info.channels.values():
            if channel.client_id == client_id:
                found: ClientChannelInfo = channel
                return found
        return None

    def call_consumer(
        self, request: RemotingCommand, group: str, client_id: str
    ) -> RemotingCommand | Deferred[RemotingCommand | None]:
        """Re-send ``request`` to the client and turn its reply into the admin's answer."""
        channel = self.find_channel(group, client_id)
        if channel is None:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR, f"The Consumer <{group}> <{client_id}> not online"
            )
        if channel.version < V3_1_8_SNAPSHOT:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer <{client_id}> Version <{version_desc(channel.version)}> too low "
                "to finish, please upgrade it to V3_1_8_SNAPSHOT",
            )
        forward = RemotingCommand.request(request.code, request.ext_fields, request.body)
        try:
            d: Deferred[RemotingCommand] = channel.connection.invoke(forward, CALL_CLIENT_TIMEOUT)
        except Exception as exc:  # a closed transport may raise at once
            return self._call_failed(Failure(exc), request, group, client_id)

        def answered(reply: RemotingCommand) -> RemotingCommand:
            resp = request.make_response(reply.code, reply.remark, reply.ext_fields, reply.body)
            resp.language = reply.language
            resp.version = reply.version
            return resp

        return d.addCallbacks(answered, self._call_failed, errbackArgs=(request, group, client_id))

    @staticmethod
    def _call_failed(
        failure: Failure, request: RemotingCommand, group: str, client_id: str
    ) -> RemotingCommand:
        exc = failure.value
        why = exc.remark if isinstance(exc, RMQError) else failure.getErrorMessage()
        if failure.check(RemotingTimeoutError):
            return request.make_response(
                ResponseCode.CONSUME_MSG_TIMEOUT, f"consumer <{group}> <{client_id}> Timeout: {why}"
            )
        return request.make_response(
            ResponseCode.SYSTEM_ERROR, f"invoke consumer <{group}> <{client_id}> Exception: {why}"
        )

    # --- 223 ---------------------------------------------------------------------------

    def consumer_status(
        self, ctx: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand | Deferred[RemotingCommand | None]:
        """INVOKE_BROKER_TO_GET_CONSUMER_STATUS: gather the clients' offset tables."""
        h = GetConsumerStatusRequestHeader.from_ext(request.ext_fields)
        info = self.broker.consumers.get(h.group)
        channels: list[ClientChannelInfo] = list(info.channels.values()) if info else []
        if not channels:
            return request.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"No Any Consumer online in the consumer group: [{h.group}]",
            )
        for channel in channels:
            if channel.version < V3_0_7_SNAPSHOT:
                return request.make_response(
                    ResponseCode.SYSTEM_ERROR,
                    "the client does not support this feature. version="
                    + version_desc(channel.version),
                )
        if h.clientAddr:
            channels = [c for c in channels if c.client_id == h.clientAddr][:1]
        ext = GetConsumerStatusRequestHeader(h.topic, h.group).to_ext()
        asks = [self._ask_status(c, ext) for c in channels]

        def gathered(results: list[tuple[bool, Any]]) -> RemotingCommand:
            table = {cid: t for ok, r in results if ok and r is not None for cid, t in [r]}
            return request.make_response(body=encode_status_body(table))

        return DeferredList(asks, consumeErrors=True).addCallback(gathered)

    def _ask_status(
        self, channel: ClientChannelInfo, ext: dict[str, str]
    ) -> Deferred[tuple[str, dict[Any, Any]] | None]:
        """(client id, its queue -> offset table), or None when it did not answer well."""
        cmd = RemotingCommand.request(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, ext)
        cid = channel.client_id

        def done(reply: RemotingCommand) -> tuple[str, dict[Any, Any]] | None:
            if reply.code != ResponseCode.SUCCESS or reply.body is None:
                return None
            table = _status_table(reply.body)
            return None if table is None else (cid, table)

        def failed(f: Failure) -> None:
            _log.warn("consumer status of {c} failed: {e}", c=cid, e=f.getErrorMessage())

        try:
            d: Deferred[RemotingCommand] = channel.connection.invoke(cmd, STATUS_TIMEOUT)
        except Exception as exc:
            failed(Failure(exc))
            return succeed(None)
        return d.addCallbacks(done, failed)


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve 307, 309 and 223 on ``dispatcher``."""
    ForwardProcessor(broker).register(dispatcher)
