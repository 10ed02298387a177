"""Producer: send a message and get a Deferred that fires once the broker stored it.

Queue choice is round-robin with latency fault avoidance unless a selector is given; a failed
send is retried on another broker (``retry_times_when_send_failed``); at most
``max_in_flight`` sends are outstanding, the rest wait their turn.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.logger import Logger
from zope.interface import implementer

from rmq import headers as h
from rmq.client.config import ClientConfig
from rmq.client.fault import FaultStrategy
from rmq.client.instance import MQClientInstance, instance_for
from rmq.client.interfaces import IProducerInner
from rmq.client.model import (
    DEFAULT_TOPIC,
    RETRY_GROUP_TOPIC_PREFIX,
    Message,
    MessageQueue,
    SendResult,
)
from rmq.client.routes import publish_queues
from rmq.common import message as m
from rmq.common.errors import MQClientError, RemoteError, RemotingError
from rmq.common.message import MessageExt, UniqueIdGenerator
from rmq.common.route import TopicRouteData
from rmq.remoting.codes import ResponseCode

_log = Logger()

Selector = Callable[[Sequence[MessageQueue], Message, Any], MessageQueue]

# Codes after which Java retries a send on another broker.
RETRY_CODES = frozenset(
    {
        ResponseCode.TOPIC_NOT_EXIST,
        ResponseCode.SERVICE_NOT_AVAILABLE,
        ResponseCode.SYSTEM_ERROR,
        ResponseCode.NO_PERMISSION,
        ResponseCode.NO_BUYER_ID,
        ResponseCode.NOT_IN_CURRENT_UNIT,
    }
)


_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_MASK32, _MASK64 = (1 << 32) - 1, (1 << 64) - 1

# Seeded in tests (``select_random`` draws from it).
_rng = random.Random()


def java_hash_code(arg: Any) -> int:
    """``arg.hashCode()`` as Java computes it for the boxed value a Java producer would pass.

    ``bool`` hashes like ``Boolean``; an ``int`` within int32 like ``Integer`` (the value
    itself); a wider ``int`` like ``Long`` (``(int)(v ^ (v >>> 32))``, taken modulo 2**64 past
    the long range); anything else like the ``String`` of ``str(arg)``.
    """
    if isinstance(arg, bool):
        return 1231 if arg else 1237
    if isinstance(arg, int):
        if _INT32_MIN <= arg <= _INT32_MAX:
            return arg
        v = arg & _MASK64
        x = (v ^ (v >> 32)) & _MASK32
        return x - (1 << 32) if x & 0x80000000 else x
    return m.tag_hash_code(str(arg))


def select_by_hash(queues: Sequence[MessageQueue], msg: Message, arg: Any) -> MessageQueue:
    """Ordered sends: the same ``arg`` (e.g. an order id) always maps to the same queue.

    Same queue as Java's ``SelectMessageQueueByHash`` (``abs(arg.hashCode() % size)``, see
    ``java_hash_code``). The C++ client 0.4.4's default Python selector differs: it truncates
    the argument to a C int and takes Python's floor modulo, so only non-negative int32 keys
    land on the same queue as here.
    """
    return queues[abs(java_hash_code(arg)) % len(queues)]


def select_random(queues: Sequence[MessageQueue], msg: Message, arg: Any) -> MessageQueue:
    """Any queue, uniformly (Java ``SelectMessageQueueByRandom``)."""
    return queues[_rng.randrange(len(queues))]


@attrs.frozen
class ProducerConfig:
    """Producer settings (Java DefaultMQProducer defaults; times in seconds)."""

    group: str
    send_timeout: float = 3.0
    retry_times_when_send_failed: int = 2
    compress_over: int = 4096
    compress_level: int = 5
    max_message_size: int = 4 * 1024 * 1024
    default_topic_queue_nums: int = 4
    create_topic_key: str = DEFAULT_TOPIC
    max_in_flight: int = 1024
    latency_fault_enabled: bool = True
    use_v2_header: bool = True


@implementer(IProducerInner)
class Producer:
    """Sends messages for one producer group.

    ``client`` is a ``ClientConfig`` (this producer then owns its own client instance) or a
    shared ``MQClientInstance``.
    """

    def __init__(
        self, reactor: Any, config: ProducerConfig, client: ClientConfig | MQClientInstance
    ) -> None:
        self.reactor = reactor
        self.config = config
        self.group = config.group
        self.instance, self._owns_instance = instance_for(reactor, client)
        self.fault = FaultStrategy(reactor.seconds, config.latency_fault_enabled)
        self.ids = UniqueIdGenerator(reactor.seconds, self.instance.config.client_ip)
        self._queues: dict[str, list[MessageQueue]] = {}
        self._route_waits: dict[str, Deferred[list[MessageQueue]]] = {}
        self._sem = DeferredSemaphore(config.max_in_flight)
        self._started = False

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Register the group with the client instance and start it."""
        self.instance.register_producer(self)
        self._started = True
        return self.instance.start()

    def shutdown(self) -> Deferred[None]:
        """Unregister the group; stop the instance if this producer owns it."""
        self._started = False
        d = self.instance.unregister_producer(self.group)
        if self._owns_instance:
            d.addCallback(lambda _: self.instance.shutdown())
        return d

    # --- IProducerInner ---------------------------------------------------------------

    def published_topics(self) -> list[str]:
        return list(self._queues)

    def update_route(self, topic: str, route: TopicRouteData) -> None:
        queues = publish_queues(topic, route)
        if queues:
            self._queues[topic] = queues

    def check_transaction_state(
        self, broker_addr: str, msg: MessageExt, header: h.CheckTransactionStateRequestHeader
    ) -> None:
        _log.warn("plain producer {g} got a transaction check; ignored", g=self.group)

    # --- routes -----------------------------------------------------------------------

    def queues_of(self, topic: str) -> Deferred[list[MessageQueue]]:
        """Writable queues of ``topic``, fetching the route (or TBW102's) on first use."""
        known = self._queues.get(topic)
        if known:
            return _succeed(known)
        waiting = self._route_waits.get(topic)
        if waiting is None:
            waiting = Deferred.fromCoroutine(self._load_queues(topic))
            self._route_waits[topic] = waiting

            def done(r: Any) -> Any:
                self._route_waits.pop(topic, None)
                return r

            waiting.addBoth(done)
        out: Deferred[list[MessageQueue]] = Deferred()
        waiting.addCallbacks(out.callback, out.errback)
        waiting.addErrback(lambda _: None)
        return out

    async def _load_queues(self, topic: str) -> list[MessageQueue]:
        self._queues.setdefault(topic, [])
        try:
            await self.instance.update_route(topic)
        except RemoteError as e:
            if e.code != ResponseCode.TOPIC_NOT_EXIST:
                raise
            # Auto-create: send to the template topic's brokers; the broker creates the topic.
            route = await self.instance.fetch_route(self.config.create_topic_key)
            for qd in route.queueDatas:
                n = min(self.config.default_topic_queue_nums, qd.readQueueNums)
                qd.readQueueNums = qd.writeQueueNums = n
            self.instance.apply_route(route, topic)
        queues = self._queues.get(topic)
        if not queues:
            self._queues.pop(topic, None)
            raise MQClientError(f"No route info of this topic: {topic}")
        return queues

    # --- building requests ------------------------------------------------------------

    def _check(self, msg: Message) -> None:
        if not self._started:
            raise MQClientError("producer is not started")
        if not msg.topic:
            raise MQClientError("message topic is empty")
        if not msg.body:
            raise MQClientError("message body is empty")
        if len(msg.body) > self.config.max_message_size:
            raise MQClientError(f"message body larger than {self.config.max_message_size}")

    def _prepare(
        self, msg: Message, extra: dict[str, str] | None = None
    ) -> tuple[bytes, int, dict[str, str]]:
        """(body, sysFlag, properties) with UNIQ_KEY set and compression applied."""
        props = msg.build_properties(extra)
        props.setdefault(m.UNIQ_KEY, self.ids.next_id())
        body, sys_flag = msg.body, 0
        if len(body) >= self.config.compress_over:
            body = m.compress_body(body, self.config.compress_level)
            sys_flag |= m.COMPRESSED_FLAG
        if props.get(m.TRAN_MSG) == "true":
            sys_flag |= m.TRANSACTION_PREPARED_TYPE
        return body, sys_flag, props

    def _header(
        self, mq: MessageQueue, sys_flag: int, props: str, flag: int, batch: bool = False
    ) -> h.SendMessageRequestHeaderV2:
        reconsume: int | None = 0  # Java always sends j=0 outside retry topics
        max_reconsume: int | None = None
        if mq.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            pd = m.decode_properties(props)
            reconsume = int(pd.get(m.RECONSUME_TIME, "0"))
            if m.MAX_RECONSUME_TIMES in pd:
                max_reconsume = int(pd[m.MAX_RECONSUME_TIMES])
        return h.SendMessageRequestHeaderV2(
            producerGroup=self.group,
            topic=mq.topic,
            defaultTopic=self.config.create_topic_key,
            defaultTopicQueueNums=self.config.default_topic_queue_nums,
            queueId=mq.queue_id,
            sysFlag=sys_flag,
            bornTimestamp=int(self.reactor.seconds() * 1000),
            flag=flag,
            properties=props,
            reconsumeTimes=reconsume,
            maxReconsumeTimes=max_reconsume,
            batch=batch,
            brokerName=mq.broker_name,
        )

    # --- sending ----------------------------------------------------------------------

    def send(
        self,
        msg: Message,
        selector: Selector | None = None,
        arg: Any = None,
        timeout: float | None = None,
    ) -> Deferred[SendResult]:
        """Send and fire with the SendResult once stored (retrying on another broker)."""
        return self._submit(msg, selector, arg, timeout, None)

    def send_to_queue(
        self, msg: Message, mq: MessageQueue, timeout: float | None = None
    ) -> Deferred[SendResult]:
        """Send to one given queue (no retry elsewhere)."""
        return self._submit(msg, None, None, timeout, mq)

    def _submit(
        self,
        msg: Message,
        selector: Selector | None,
        arg: Any,
        timeout: float | None,
        mq: MessageQueue | None,
    ) -> Deferred[SendResult]:
        """Check ``msg`` and run its send within the in-flight limit."""
        try:
            self._check(msg)
        except MQClientError as e:
            return _fail_d(e)
        return self._sem.run(
            lambda: Deferred.fromCoroutine(self._send(msg, selector, arg, timeout, mq))
        )

    async def _send(
        self,
        msg: Message,
        selector: Selector | None,
        arg: Any,
        timeout: float | None,
        fixed: MessageQueue | None,
        extra: dict[str, str] | None = None,
    ) -> SendResult:
        timeout = self.config.send_timeout if timeout is None else timeout
        begin = self.reactor.seconds()
        body, sys_flag, props = self._prepare(msg, extra)
        queues = await self.queues_of(msg.topic)
        if fixed is None and selector is not None:
            fixed = selector(queues, msg, arg)
        return await self._deliver(
            queues,
            fixed,
            body,
            (sys_flag, m.encode_properties(props), msg.flag, False),
            props[m.UNIQ_KEY],
            begin,
            timeout,
        )

    async def _deliver(
        self,
        queues: Sequence[MessageQueue],
        fixed: MessageQueue | None,
        body: bytes,
        header_args: tuple[int, str, int, bool],
        msg_id: str,
        begin: float,
        timeout: float,
    ) -> SendResult:
        """Java sendDefaultImpl: one request per attempt, retried on another broker.

        ``fixed`` (a given or selected queue) means a single attempt; otherwise the fault
        strategy picks each queue, avoiding the broker that just failed. Every attempt's
        latency feeds the fault strategy. Shared by single and batch sends.
        """
        topic = queues[0].topic if fixed is None else fixed.topic
        times = 1 if fixed is not None else 1 + self.config.retry_times_when_send_failed
        last_broker: str | None = None
        last_error: Exception | None = None
        for _ in range(times):
            left = timeout - (self.reactor.seconds() - begin)
            if left <= 0:
                break
            mq = fixed if fixed is not None else self.fault.select(queues, last_broker)
            last_broker = mq.broker_name
            addr = self.instance.master_addr(mq.broker_name)
            if addr is None:
                await self.instance.update_route(topic)
                addr = self.instance.master_addr(mq.broker_name)
                if addr is None:
                    last_error = MQClientError(f"The broker[{mq.broker_name}] not exist")
                    continue
            header = self._header(mq, *header_args)
            start = self.reactor.seconds()
            try:
                result = await self.instance.api.send_message(
                    addr, mq, header, body, msg_id, left, use_v2=self.config.use_v2_header
                )
            except RemotingError as e:
                self.fault.update(mq.broker_name, (self.reactor.seconds() - start) * 1000, True)
                last_error = e
                continue
            except RemoteError as e:
                self.fault.update(mq.broker_name, (self.reactor.seconds() - start) * 1000, True)
                if e.code in RETRY_CODES:
                    last_error = e
                    continue
                raise
            self.fault.update(mq.broker_name, (self.reactor.seconds() - start) * 1000, False)
            return result
        if last_error is not None:
            raise last_error
        raise MQClientError(f"send of {msg_id} timed out after {timeout:g}s")

    def send_oneway(self, msg: Message, mq: MessageQueue | None = None) -> Deferred[None]:
        """Send without waiting for the broker; fires once the request is written."""
        try:
            self._check(msg)
        except MQClientError as e:
            return _fail_d(e)
        return Deferred.fromCoroutine(self._send_oneway(msg, mq))

    async def _send_oneway(self, msg: Message, fixed: MessageQueue | None) -> None:
        body, sys_flag, props = self._prepare(msg)
        queues = await self.queues_of(msg.topic)
        mq = fixed or self.fault.select(queues, None)
        addr = self.instance.master_addr(mq.broker_name)
        if addr is None:
            raise MQClientError(f"The broker[{mq.broker_name}] not exist")
        header = self._header(mq, sys_flag, m.encode_properties(props), msg.flag)
        await self.instance.api.send_message_oneway(
            addr, header, body, use_v2=self.config.use_v2_header
        )

    def send_batch(
        self, msgs: Sequence[Message], mq: MessageQueue | None = None, timeout: float | None = None
    ) -> Deferred[SendResult]:
        """SEND_BATCH_MESSAGE: same topic, no delay, never compressed; ids comma-joined.

        Without ``mq`` a failed batch is retried whole on another broker, like a single send.
        """
        try:
            if not msgs:
                raise MQClientError("empty batch")
            topic = msgs[0].topic
            for msg in msgs:
                self._check(msg)
                if msg.topic != topic:
                    raise MQClientError("batch messages must share one topic")
                if msg.delay_level > 0:
                    raise MQClientError("batch messages cannot be delayed")
                if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
                    raise MQClientError("batch messages cannot go to a retry topic")
        except MQClientError as e:
            return _fail_d(e)
        return self._sem.run(lambda: Deferred.fromCoroutine(self._send_batch(msgs, mq, timeout)))

    async def _send_batch(
        self, msgs: Sequence[Message], fixed: MessageQueue | None, timeout: float | None
    ) -> SendResult:
        timeout = self.config.send_timeout if timeout is None else timeout
        begin = self.reactor.seconds()
        ids: list[str] = []
        items: list[m.BatchItem] = []
        for msg in msgs:
            props = msg.build_properties()
            props[m.UNIQ_KEY] = self.ids.next_id()
            ids.append(props[m.UNIQ_KEY])
            items.append((msg.flag, msg.body, m.encode_properties(props)))
        body = m.encode_batch(items)
        if len(body) > self.config.max_message_size:
            raise MQClientError(f"batch body larger than {self.config.max_message_size}")
        wait = "true" if msgs[0].wait_store_msg_ok else "false"
        batch_props = m.encode_properties({m.WAIT: wait})
        queues = await self.queues_of(msgs[0].topic)
        return await self._deliver(
            queues,
            fixed,
            body,
            (0, batch_props, 0, True),
            ",".join(ids),
            begin,
            timeout,
        )

    # --- helpers for consumers and transactions -------------------------------------------

    def view_message(self, offset_msg_id: str) -> Deferred[MessageExt]:
        """Fetch a stored message by its offset message id (VIEW_MESSAGE_BY_ID)."""
        ip, port, offset = m.decode_offset_msg_id(offset_msg_id)
        return self.instance.api.view_message(f"{ip}:{port}", offset, self.config.send_timeout)


def _succeed(value: Any) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.callback(value)
    return d


def _fail_d(exc: Exception) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(exc)
    return d
