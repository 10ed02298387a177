"""PULL_MESSAGE (11): checks, subscription, store read, status mapping, offset commit.

Every answer carries ``nextBeginOffset``, ``minOffset``, ``maxOffset`` and
``suggestWhichBrokerId`` as strings (the C++ client misreads numbers). A pull that finds
nothing and may suspend is handed to the long-polling service and answered later with the
same opaque; the re-run never suspends and never commits again (REFERENCE §7.5).

A PULL_OFFSET_MOVED answer from a master also stores an OffsetMovedEvent (JSON body, tags and
keys = the group) in ``OFFSET_MOVED_EVENT`` queue 0, as RocketMQ 4.9's PullMessageProcessor
does unconditionally; a slave instead answers PULL_RETRY_IMMEDIATELY with the request offset
and the group's ``brokerId`` (REFERENCE §6.11, no ``offsetCheckInSlave``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger

from rmq.broker.retryfilter import for_pull
from rmq.broker.topics import OFFSET_MOVED_EVENT, PERM_READ
from rmq.common import fastjson
from rmq.common.errors import (
    NoPermission,
    RMQError,
    SubscriptionGroupNotExist,
    SubscriptionNotExist,
    SubscriptionNotLatest,
    SubscriptionParseFailed,
    TopicNotExist,
)
from rmq.common.message import KEYS, TAGS, encode_properties, tag_hash_code
from rmq.filter.tags import SubscriptionData, build_subscription
from rmq.headers import PullMessageRequestHeader
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["FLAG_COMMIT_OFFSET", "FLAG_SUBSCRIPTION", "FLAG_SUSPEND", "PullProcessor", "register"]

_log = Logger()

FLAG_COMMIT_OFFSET = 0x1
FLAG_SUSPEND = 0x2
FLAG_SUBSCRIPTION = 0x4

_FAQ = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."

_FOUND = "FOUND"
_RETRY = frozenset(("NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING"))
_EMPTY_QUEUE = frozenset(("NO_MATCHED_LOGIC_QUEUE", "NO_MESSAGE_IN_QUEUE"))
_NOT_FOUND = frozenset(("OFFSET_FOUND_NULL", "OFFSET_OVERFLOW_ONE"))
_MOVED = frozenset(("OFFSET_OVERFLOW_BADLY", "OFFSET_TOO_SMALL"))


def status_code(status_name: str, request_offset: int) -> int:
    """Pull response code for a store GetMessageStatus name (REFERENCE §6.11)."""
    if status_name == _FOUND:
        return ResponseCode.SUCCESS
    if status_name in _NOT_FOUND:
        return ResponseCode.PULL_NOT_FOUND
    if status_name in _EMPTY_QUEUE:
        return ResponseCode.PULL_OFFSET_MOVED if request_offset else ResponseCode.PULL_NOT_FOUND
    if status_name in _MOVED:
        return ResponseCode.PULL_OFFSET_MOVED
    return ResponseCode.PULL_RETRY_IMMEDIATELY


class PullProcessor:
    """Serves pulls; ``process(..., allow_suspend=False)`` is the long-poll re-run."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker

    def handle(self, ctx: RemotingConnection, request: RemotingCommand) -> RemotingCommand | None:
        return self.process(ctx, request, True)

    def process(
        self, ctx: RemotingConnection, request: RemotingCommand, allow_suspend: bool
    ) -> RemotingCommand | None:
        """Answer the pull, or return None when it was parked for long polling."""
        broker = self.broker
        h = PullMessageRequestHeader.from_ext(request.ext_fields)
        config = broker.config
        if not config.broker_permission & PERM_READ:
            raise NoPermission(f"the broker[{config.broker_ip1}] pulling message is forbidden")
        group_cfg = broker.subgroups.find_or_create(h.consumerGroup)
        if group_cfg is None:
            raise SubscriptionGroupNotExist(
                f"subscription group [{h.consumerGroup}] does not exist, {_FAQ}"
            )
        if not group_cfg.consume_enable:
            raise NoPermission(f"subscription group no permission, {h.consumerGroup}")
        tc = broker.topics.get(h.topic)
        if tc is None:
            raise TopicNotExist(f"topic[{h.topic}] not exist, apply first please! {_FAQ}")
        if not tc.perm & PERM_READ:
            raise NoPermission(f"the topic[{h.topic}] pulling message is forbidden")
        if h.queueId < 0 or h.queueId >= tc.read_queue_nums:
            raise RMQError(
                f"queueId[{h.queueId}] is illegal, topic:[{h.topic}] "
                f"topicConfig.readQueueNums:[{tc.read_queue_nums}] consumer:[{ctx.peer}]"
            )
        sub = self._subscription(h, group_cfg)
        if sub.expression_type != "TAG" and not config.enable_property_filter:
            raise RMQError(
                f"The broker does not support consumer to filter message by {sub.expression_type}"
            )
        # Tag hash, then the tag string (rules out collisions); SQL92 over the properties.
        # A bad SQL92 expression raises SubscriptionParseFailed (23) here.
        message_filter = for_pull(sub, h.topic, config.filter_support_retry, self._group_sub)
        result = broker.store.get_message(
            h.consumerGroup, h.topic, h.queueId, h.queueOffset, h.maxMsgNums, message_filter
        )
        status = result.status
        name = getattr(status, "name", None) or str(status)
        code = status_code(name, h.queueOffset)
        suggest = group_cfg.broker_id if config.slave_read_enable else 0
        if (
            code == ResponseCode.PULL_NOT_FOUND
            and allow_suspend
            and h.sysFlag & FLAG_SUSPEND
            and broker.longpoll is not None
        ):
            timeout = (
                h.suspendTimeoutMillis
                if config.long_polling_enable
                else config.short_polling_time_mills
            )
            self._commit(h, allow_suspend)
            broker.longpoll.suspend(
                ctx, request, h.topic, h.queueId, h.queueOffset, message_filter, timeout / 1000.0
            )
            return None
        self._commit(h, allow_suspend)
        next_begin = result.next_begin_offset
        if code == ResponseCode.PULL_OFFSET_MOVED:
            if getattr(broker.store_config, "broker_role", "") == "SLAVE":
                code = ResponseCode.PULL_RETRY_IMMEDIATELY
                suggest = group_cfg.broker_id
                next_begin = h.queueOffset
            else:
                self._offset_moved_event(h, next_begin)
        ext = {
            "suggestWhichBrokerId": str(suggest),
            "nextBeginOffset": str(next_begin),
            "minOffset": str(result.min_offset),
            "maxOffset": str(result.max_offset),
        }
        body = None
        if code == ResponseCode.SUCCESS:
            buffers = result.buffers
            joined = buffers[0] if len(buffers) == 1 else b"".join(buffers)
            body = joined if isinstance(joined, bytes) else bytes(joined)
            release = getattr(result, "release", None)
            if release is not None:
                release()
        return request.make_response(code, None if code == 0 else name, ext, body)

    def _offset_moved_event(self, h: PullMessageRequestHeader, offset_new: int) -> None:
        """Store an OffsetMovedEvent so operators can see corrected consumer offsets."""
        from rmq.store.message_store import MessageToStore

        broker = self.broker
        group = h.consumerGroup
        mq = {"brokerName": broker.config.broker_name, "queueId": h.queueId, "topic": h.topic}
        event = {
            "consumerGroup": group,
            "messageQueue": mq,
            "offsetNew": offset_new,
            "offsetRequest": h.queueOffset,
        }
        msg = MessageToStore(
            OFFSET_MOVED_EVENT,
            0,
            fastjson.dumpb(event),
            properties=encode_properties({TAGS: group, KEYS: group}),
            born_timestamp=int(broker.clock.seconds() * 1000),
            born_host=broker.store_host,
            store_host=broker.store_host,
            tags_code=tag_hash_code(group),
            wait_store_msg_ok=False,
        )
        d = maybeDeferred(broker.store.put_message, msg)
        d.addErrback(lambda f: _log.failure("storing OFFSET_MOVED_EVENT failed", f))

    def _commit(self, h: PullMessageRequestHeader, first_run: bool) -> None:
        if first_run and h.sysFlag & FLAG_COMMIT_OFFSET and self.broker.config.broker_id == 0:
            self.broker.offsets.commit(h.consumerGroup, h.topic, h.queueId, h.commitOffset)

    def _group_sub(self, group: str, topic: str) -> SubscriptionData | None:
        """The group's current (heartbeat) subscription to ``topic``."""
        info = self.broker.consumers.get(group)
        return None if info is None else info.subscriptions.get(topic)

    def _subscription(self, h: PullMessageRequestHeader, group_cfg: Any) -> SubscriptionData:
        if h.sysFlag & FLAG_SUBSCRIPTION:
            etype = (h.expressionType or "TAG").upper()
            if etype not in ("TAG", "SQL92"):
                raise SubscriptionParseFailed(f"unknown expression type {h.expressionType!r}")
            return build_subscription(h.topic, h.subscription, etype, h.subVersion)
        info = self.broker.consumers.get(h.consumerGroup)
        if info is None:
            raise SubscriptionNotExist(f"the consumer's group info not exist {_FAQ}")
        if not group_cfg.consume_broadcast_enable and info.message_model == "BROADCASTING":
            raise NoPermission(
                f"the consumer group[{h.consumerGroup}] can not consume by broadcast way"
            )
        sub: SubscriptionData | None = info.subscriptions.get(h.topic)
        if sub is None:
            raise SubscriptionNotExist(f"the consumer's subscription not exist {_FAQ}")
        if sub.sub_version < h.subVersion:
            raise SubscriptionNotLatest("the consumer's subscription not latest")
        return sub


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Serve code 11 and give the long-polling service its re-run function."""
    proc = PullProcessor(broker)
    dispatcher.register(RequestCode.PULL_MESSAGE, proc.handle)
    if broker.longpoll is not None:
        broker.longpoll.processor = proc
        dispatcher.add_disconnect_listener(broker.longpoll.connection_lost)
