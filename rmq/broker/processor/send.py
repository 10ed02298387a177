"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).

Checks run in RocketMQ's order (broker permission, forbidden topics, topic lookup or auto-create
from TBW102, topic permission, queue id, size), then the message goes to the store and the
answer carries offset message ids built from the advertised address, ``MSG_REGION`` and
``TRACE_ON`` as strings. Batch or not is decided by the header's batch flag, not the code.
Bodies are stored exactly as sent (compressed ones too). Producers need no heartbeat first.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from rmq.broker.registration import ANNOUNCE_WAIT
from rmq.broker.topics import (
    DLQ_GROUP_TOPIC_PREFIX,
    NOT_ALLOWED_SEND_TOPICS,
    PERM_READ,
    PERM_WRITE,
    RETRY_GROUP_TOPIC_PREFIX,
    dlq_topic,
    validate_topic,
)
from rmq.broker.transaction.half import is_half_send
from rmq.common.errors import (
    MessageIllegal,
    NoPermission,
    RMQError,
    SubscriptionGroupNotExist,
    TopicNotExist,
)
from rmq.common.message import (
    CLUSTER,
    DELAY,
    NAME_VALUE_SEPARATOR,
    PROPERTY_SEPARATOR,
    TRAN_MSG,
    create_offset_msg_id,
    decode_batch,
    join_properties,
)
from rmq.headers import SendMessageRequestHeader, SendMessageRequestHeaderV2
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["SendProcessor", "put_status_code", "register"]

_FAQ = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."

# PutMessageStatus name -> (response code, remark) ; PUT_OK is handled inline.
_STATUS_CODES: dict[str, tuple[int, str | None]] = {
    "PUT_OK": (ResponseCode.SUCCESS, None),
    "FLUSH_DISK_TIMEOUT": (ResponseCode.FLUSH_DISK_TIMEOUT, None),
    "FLUSH_SLAVE_TIMEOUT": (ResponseCode.FLUSH_SLAVE_TIMEOUT, None),
    "SLAVE_NOT_AVAILABLE": (ResponseCode.SLAVE_NOT_AVAILABLE, None),
    "CREATE_MAPEDFILE_FAILED": (
        ResponseCode.SYSTEM_ERROR,
        "create mapped file failed, server is busy or broken.",
    ),
    "CREATE_MAPPED_FILE_FAILED": (
        ResponseCode.SYSTEM_ERROR,
        "create mapped file failed, server is busy or broken.",
    ),
    "MESSAGE_ILLEGAL": (
        ResponseCode.MESSAGE_ILLEGAL,
        "the message is illegal, maybe msg body or properties length not matched.",
    ),
    "PROPERTIES_SIZE_EXCEEDED": (
        ResponseCode.MESSAGE_ILLEGAL,
        "the message is illegal, maybe msg properties length limit 32k.",
    ),
    "SERVICE_NOT_AVAILABLE": (
        ResponseCode.SERVICE_NOT_AVAILABLE,
        "service not available now. It may be caused by one of the following reasons: "
        "the broker's disk is full, messages are put to the slave, message store has been "
        "shut down, etc.",
    ),
    "OS_PAGECACHE_BUSY": (
        ResponseCode.SYSTEM_ERROR,
        "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
    ),
    "UNKNOWN_ERROR": (ResponseCode.SYSTEM_ERROR, "UNKNOWN_ERROR"),
}
_SENT_OK = frozenset(("PUT_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT", "SLAVE_NOT_AVAILABLE"))


def put_status_code(status: Any) -> tuple[int, str | None]:
    """(response code, remark) for a store PutMessageStatus (enum or name)."""
    name = getattr(status, "name", None) or str(status)
    return _STATUS_CODES.get(name, (ResponseCode.SYSTEM_ERROR, name))


def _delay_level(properties: str) -> int:
    """The DELAY property as an int (0 when absent or unparsable); a cheap string scan."""
    key = DELAY + NAME_VALUE_SEPARATOR
    if properties.startswith(key):
        start = len(key)
    else:
        i = properties.find(PROPERTY_SEPARATOR + key)
        if i < 0:
            return 0
        start = i + 1 + len(key)
    end = properties.find(PROPERTY_SEPARATOR, start)
    value = properties[start:] if end < 0 else properties[start:end]
    try:
        return int(value)
    except ValueError:
        return 0


class SendProcessor:
    """Validates sends and hands them to the store."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        self._rand = random.Random()
        self._cluster_prop = ""
        self._store_host_cache: tuple[tuple[str, int], str] | None = None

    # --- entry points ------------------------------------------------------------------

    def handle(self, ctx: RemotingConnection, request: RemotingCommand) -> Deferred[Any] | Any:
        """Decode whichever header the code uses and process the send."""
        if request.code == RequestCode.SEND_MESSAGE:
            h: Any = SendMessageRequestHeader.from_ext(request.ext_fields)
        else:
            h = SendMessageRequestHeaderV2.from_ext(request.ext_fields)
        return self.send(ctx, request, h)

    def send(self, ctx: RemotingConnection, request: RemotingCommand, h: Any) -> Any:
        broker = self.broker
        config = broker.config
        topic: str = h.topic
        if not config.broker_permission & PERM_WRITE:
            raise NoPermission(f"the broker[{config.broker_ip1}] sending message is forbidden")
        if topic in NOT_ALLOWED_SEND_TOPICS:
            raise NoPermission(f"Sending message to topic[{topic}] is forbidden.")
        tc = broker.topics.get(topic)
        if tc is None:
            tc = self._create_topic(h)
            result = self._send_to(ctx, request, h, tc)
            return self._when_announced(result)
        return self._send_to(ctx, request, h, tc)

    def _when_announced(self, result: Any) -> Any:
        """``result`` once the name servers know the topic this send just created."""
        registration = self.broker.registration
        if registration is None:
            return result
        d = registration.announced(ANNOUNCE_WAIT)
        d.addCallback(lambda _: result)
        return d

    def _send_to(self, ctx: RemotingConnection, request: RemotingCommand, h: Any, tc: Any) -> Any:
        """The send once its topic exists: queue checks, then the store."""
        broker = self.broker
        topic: str = h.topic
        if not tc.perm & PERM_WRITE:
            raise NoPermission(f"the topic[{topic}] sending message is forbidden")
        queue_id: int = h.queueId
        queue_max = max(tc.read_queue_nums, tc.write_queue_nums)
        if queue_id >= queue_max:
            raise RMQError(
                f"request queueId[{queue_id}] is illegal, {tc.topic_name} Producer: {ctx.peer}"
            )
        if queue_id < 0:
            queue_id = self._rand.randrange(max(tc.write_queue_nums, 1))
        body = request.body or b""
        max_size = broker.store_config.max_message_size
        if len(body) > max_size:
            raise MessageIllegal(f"the message body size {len(body)} over max value {max_size}")
        properties = h.properties or ""
        reconsume = h.reconsumeTimes or 0
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX) and not h.batch:  # batches are refused below
            topic, queue_id, properties = self._maybe_dlq(h, topic, queue_id, properties, reconsume)
        born_host = self._born_host(ctx)
        if h.batch:
            return self._send_batch(request, h, topic, queue_id, body, born_host)
        props = join_properties(properties, self._cluster())
        msg = self._new_message(
            topic, queue_id, body, h.flag, props, h.sysFlag, h.bornTimestamp, born_host, reconsume
        )
        tx = broker.transactions
        if tx is not None and TRAN_MSG in properties and is_half_send(properties):
            msg = tx.prepare(msg)
        schedule = broker.schedule
        if schedule is not None and _delay_level(properties) > 0:
            msg = schedule.transform(msg)
        return self._store([msg], request, queue_id)

    # --- helpers -----------------------------------------------------------------------

    def _create_topic(self, h: Any) -> Any:
        topic: str = h.topic
        problem = validate_topic(topic)
        if problem:
            raise RMQError(problem)
        topics = self.broker.topics
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            group = topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
            sub = self.broker.subgroups.find_or_create(group)
            queues = sub.retry_queue_nums if sub is not None else 1
            return topics.create_in_send_back(topic, queues, PERM_READ | PERM_WRITE, 0)
        tc = topics.create_for_send(topic, h.defaultTopic, h.defaultTopicQueueNums)
        if tc is None:
            raise TopicNotExist(f"topic[{topic}] not exist, apply first please!{_FAQ}")
        return tc

    def _maybe_dlq(
        self, h: Any, topic: str, queue_id: int, properties: str, reconsume: int
    ) -> tuple[str, int, str]:
        """Redirect a retry-topic send to the DLQ when it was reconsumed too often.

        Like RocketMQ's handleRetryAndDLQ, a single send to the retry topic of a group that
        does not exist (and may not be auto-created) is refused with SUBSCRIPTION_GROUP_NOT_EXIST.
        """
        group = topic[len(RETRY_GROUP_TOPIC_PREFIX) :]
        if not h.batch and self.broker.subgroups.find_or_create(group) is None:
            raise SubscriptionGroupNotExist(f"subscription group not exist, {group} {_FAQ}")
        max_times = h.maxReconsumeTimes
        if max_times is None:
            max_times = self.broker.subgroups.retry_max_times(group)
        if reconsume < max_times:
            return topic, queue_id, properties
        dlq = dlq_topic(group)
        self.broker.topics.create_in_send_back(dlq, 1, PERM_READ | PERM_WRITE, 0)
        if _delay_level(properties) > 0:
            from rmq.common.message import decode_properties, encode_properties

            props = decode_properties(properties)
            props.pop(DELAY, None)
            properties = encode_properties(props)
        assert dlq.startswith(DLQ_GROUP_TOPIC_PREFIX)
        return dlq, 0, properties

    def _cluster(self) -> str:
        name = self.broker.config.broker_cluster_name
        if not self._cluster_prop.endswith(NAME_VALUE_SEPARATOR + name):
            self._cluster_prop = CLUSTER + NAME_VALUE_SEPARATOR + name
        return self._cluster_prop

    @staticmethod
    def _born_host(ctx: RemotingConnection) -> tuple[str, int]:
        attrs = getattr(ctx, "attributes", None)
        if attrs is not None:
            cached = attrs.get("born_host")
            if cached is not None:
                return cached  # type: ignore[no-any-return]
        host, _, port = str(ctx.peer).rpartition(":")
        try:
            born = (host.strip("[]") or "127.0.0.1", int(port))
        except ValueError:
            born = ("127.0.0.1", 0)
        if attrs is not None:
            attrs["born_host"] = born
        return born

    def _new_message(
        self,
        topic: str,
        queue_id: int,
        body: bytes,
        flag: int,
        properties: str,
        sys_flag: int,
        born_ts: int,
        born_host: tuple[str, int],
        reconsume: int,
    ) -> Any:
        from rmq.store.message_store import MessageToStore

        return MessageToStore(
            topic=topic,
            queue_id=queue_id,
            body=body,
            flag=flag,
            properties=properties,
            sys_flag=sys_flag,
            born_timestamp=born_ts,
            born_host=born_host,
            store_host=self.broker.store_host,
            reconsume_times=reconsume,
        )

    def _send_batch(
        self,
        request: RemotingCommand,
        h: Any,
        topic: str,
        queue_id: int,
        body: bytes,
        born_host: tuple[str, int],
    ) -> RemotingCommand | Deferred[RemotingCommand]:
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            raise MessageIllegal(f"batch request does not support retry group {topic}")
        items = decode_batch(body)
        if not items:
            raise MessageIllegal("empty batch")
        cluster = self._cluster()
        msgs = [
            self._new_message(
                topic,
                queue_id,
                mbody,
                mflag,
                join_properties(mprops, cluster),
                h.sysFlag,
                h.bornTimestamp,
                born_host,
                0,
            )
            for mflag, mbody, mprops in items
        ]
        return self._store(msgs, request, queue_id)

    def _store(
        self, msgs: list[Any], request: RemotingCommand, queue_id: int
    ) -> RemotingCommand | Deferred[RemotingCommand]:
        """Append; answer at once unless SYNC_FLUSH makes the ack wait for the flush.

        The ASYNC_FLUSH path returns the response directly: no Deferred per send.
        """
        store = self.broker.store
        result = store.put_messages_nowait(msgs)
        if store.config.sync_flush and msgs[0].wait_store_msg_ok:
            d: Deferred[Any] = store.wait_flushed(result)
            d.addCallback(self._answer, request, queue_id)
            return d
        return self._answer(result, request, queue_id)

    def _answer(self, result: Any, request: RemotingCommand, queue_id: int) -> RemotingCommand:
        """Turn a PutResult into the send response (string extFields, region, trace)."""
        status = result.status
        name = getattr(status, "name", None) or str(status)
        code, remark = put_status_code(name)
        if name not in _SENT_OK:
            return request.make_response(code, remark)
        ids = result.msg_ids
        if ids:
            msg_id = ids[0] if len(ids) == 1 else ",".join(ids)
        else:
            ip, port = self.broker.store_host
            msg_id = create_offset_msg_id(ip, port, result.wrote_offset)
        ext = {
            "msgId": msg_id,
            "queueId": str(getattr(result, "queue_id", queue_id)),
            "queueOffset": str(result.queue_offset),
            "MSG_REGION": self.broker.config.region_id,
            "TRACE_ON": "true" if self.broker.config.trace_on else "false",
        }
        return request.make_response(code, remark, ext)


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve codes 10, 310 and 320."""
    proc = SendProcessor(broker)
    for code in (
        RequestCode.SEND_MESSAGE,
        RequestCode.SEND_MESSAGE_V2,
        RequestCode.SEND_BATCH_MESSAGE,
    ):
        dispatcher.register(code, proc.handle)
