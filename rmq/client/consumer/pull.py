"""PullConsumer: the application chooses queues and offsets and pulls explicitly."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from rmq import headers as h
from rmq.client.api import PULL_SUBSCRIPTION, PULL_SUSPEND
from rmq.client.config import ClientConfig
from rmq.client.instance import MQClientInstance, instance_for
from rmq.client.interfaces import IConsumerInner
from rmq.client.model import (
    ConsumeFromWhere,
    ConsumeType,
    ExpressionType,
    MessageModel,
    MessageQueue,
    PullResult,
)
from rmq.client.offset_store import ReadOffsetType, RemoteBrokerOffsetStore
from rmq.client.routes import subscribe_queues
from rmq.common.errors import MQClientError
from rmq.common.message import MessageExt
from rmq.common.route import TopicRouteData
from rmq.filter.tags import SubscriptionData, build_subscription

BROKER_SUSPEND_MAX = 20.0  # DefaultMQPullConsumer's brokerSuspendMaxTimeMillis


@implementer(IConsumerInner)
class PullConsumer:
    """Explicit pulls for one consumer group; offsets are kept on the broker when asked."""

    def __init__(self, reactor: Any, group: str, client: ClientConfig | MQClientInstance) -> None:
        self.reactor = reactor
        self.group = group
        self.instance, self._owns_instance = instance_for(reactor, client)
        self.offsets = RemoteBrokerOffsetStore(self.instance, group)
        self._queues: dict[str, list[MessageQueue]] = {}
        self._subs: dict[str, SubscriptionData] = {}

    def start(self) -> Deferred[None]:
        self.instance.register_consumer(self)
        return self.instance.start()

    def shutdown(self) -> Deferred[None]:
        """Persist offsets, unregister, and stop the instance if owned."""
        d = self.persist_offsets()
        d.addCallback(lambda _: self.instance.unregister_consumer(self.group))
        if self._owns_instance:
            d.addCallback(lambda _: self.instance.shutdown())
        return d

    # --- IConsumerInner ---------------------------------------------------------------------

    def consumer_data(self) -> dict[str, Any]:
        return {
            "consumeFromWhere": ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET.value,
            "consumeType": ConsumeType.CONSUME_ACTIVELY.value,
            "groupName": self.group,
            "messageModel": MessageModel.CLUSTERING.value,
            "subscriptionDataSet": [s.to_json() for s in self._subs.values()],
            "unitMode": False,
        }

    def subscribed_topics(self) -> list[str]:
        return list(self._queues)

    def update_route(self, topic: str, route: TopicRouteData) -> None:
        self._queues[topic] = subscribe_queues(topic, route)

    def do_rebalance(self) -> Deferred[None]:
        return succeed(None)

    def persist_offsets(self) -> Deferred[None]:
        return self.offsets.persist(self.offsets.table())

    def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        for mq, off in offsets.items():
            self.offsets.update(mq, off)

    def offsets_of(self, topic: str) -> dict[MessageQueue, int]:
        return {q: o for q, o in self.offsets.table().items() if q.topic == topic}

    def running_info(self) -> dict[Any, Any]:
        return {"properties": {"PROP_CONSUME_TYPE": ConsumeType.CONSUME_ACTIVELY.value}}

    def consume_directly(
        self, msg: MessageExt, broker_name: str | None
    ) -> Deferred[dict[str, Any]]:
        raise MQClientError("a pull consumer cannot consume directly")

    # --- API --------------------------------------------------------------------------------

    def fetch_subscribe_queues(self, topic: str) -> Deferred[list[MessageQueue]]:
        """Every readable queue of ``topic`` (fetches the route)."""
        self._queues.setdefault(topic, [])

        def done(_: TopicRouteData) -> list[MessageQueue]:
            queues = self._queues.get(topic) or []
            if not queues:
                raise MQClientError(f"The topic[{topic}] not exist, or its route has no queue")
            return queues

        return self.instance.update_route(topic).addCallback(done)

    def pull(
        self,
        mq: MessageQueue,
        expression: str | None,
        offset: int,
        max_nums: int = 32,
        *,
        expression_type: ExpressionType = ExpressionType.TAG,
        block: bool = False,
        timeout: float = 10.0,
    ) -> Deferred[PullResult]:
        """PULL_MESSAGE from ``offset``; ``block`` lets the broker hold it up to 20 s."""
        if offset < 0:
            failed: Deferred[PullResult] = Deferred()
            failed.errback(MQClientError("offset must be >= 0"))
            return failed
        sub = build_subscription(mq.topic, expression, expression_type, 0)
        self._subs[mq.topic] = sub
        addr = self.instance.broker_addr(mq.broker_name)
        if addr is None:
            return self.instance.update_route(mq.topic).addCallback(
                lambda _: self._pull(mq, sub, offset, max_nums, block, timeout)
            )
        return self._pull(mq, sub, offset, max_nums, block, timeout)

    def _pull(
        self,
        mq: MessageQueue,
        sub: SubscriptionData,
        offset: int,
        max_nums: int,
        block: bool,
        timeout: float,
    ) -> Deferred[PullResult]:
        addr = self.instance.broker_addr(mq.broker_name)
        if addr is None:
            raise MQClientError(f"The broker[{mq.broker_name}] not exist")
        header = h.PullMessageRequestHeader(
            consumerGroup=self.group,
            topic=mq.topic,
            queueId=mq.queue_id,
            queueOffset=offset,
            maxMsgNums=max_nums,
            sysFlag=PULL_SUBSCRIPTION | (PULL_SUSPEND if block else 0),
            commitOffset=0,
            suspendTimeoutMillis=int(BROKER_SUSPEND_MAX * 1000),
            subVersion=0,
            subscription=sub.sub_string,
            expressionType=sub.expression_type,
            bname=mq.broker_name,
        )
        wait = max(timeout, BROKER_SUSPEND_MAX + 5) if block else timeout
        return self.instance.api.pull_message(addr, header, wait, sub)

    # --- offsets ----------------------------------------------------------------------------

    def update_offset(self, mq: MessageQueue, offset: int) -> None:
        """Remember the next offset to consume (persisted every 5 s and at shutdown)."""
        self.offsets.update(mq, offset)

    def fetch_consume_offset(self, mq: MessageQueue, from_store: bool = True) -> Deferred[int]:
        """The group's stored offset for ``mq`` (-1 when none)."""
        how = ReadOffsetType.STORE if from_store else ReadOffsetType.MEMORY_FIRST_THEN_STORE
        return self.offsets.read(mq, how)

    def _addr(self, mq: MessageQueue) -> str:
        addr = self.instance.broker_addr(mq.broker_name)
        if addr is None:
            raise MQClientError(f"The broker[{mq.broker_name}] not exist")
        return addr

    def min_offset(self, mq: MessageQueue) -> Deferred[int]:
        api, timeout = self.instance.api, self.instance.config.api_timeout
        return api.get_min_offset(self._addr(mq), mq, timeout)

    def max_offset(self, mq: MessageQueue) -> Deferred[int]:
        api, timeout = self.instance.api, self.instance.config.api_timeout
        return api.get_max_offset(self._addr(mq), mq, timeout)

    def search_offset(self, mq: MessageQueue, timestamp_ms: int) -> Deferred[int]:
        return self.instance.api.search_offset(
            self._addr(mq), mq, timestamp_ms, self.instance.config.api_timeout
        )
