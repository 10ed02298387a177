"""PushConsumer: rebalance, a long-polling pull loop per owned queue, and listener dispatch.

Concurrent listeners get batches of ``consume_batch_size`` messages, at most
``consume_concurrency`` batches at a time; failures go back to the broker
(CONSUMER_SEND_MSG_BACK) in clustering mode. Orderly listeners consume one batch at a time per
queue, and in clustering mode only while this client holds the broker lock of that queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
from twisted.internet.defer import Deferred, DeferredSemaphore, maybeDeferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from rmq import headers as h
from rmq.client.api import PULL_COMMIT_OFFSET, PULL_SUBSCRIPTION, PULL_SUSPEND
from rmq.client.config import ClientConfig
from rmq.client.consumer.process_queue import ProcessQueue
from rmq.client.instance import MQClientInstance, instance_for
from rmq.client.interfaces import IConsumerInner, IOffsetStore
from rmq.client.model import (
    RETRY_GROUP_TOPIC_PREFIX,
    ConsumeFromWhere,
    ConsumeOrderlyStatus,
    ConsumeStatus,
    ConsumeType,
    ExpressionType,
    MessageModel,
    MessageQueue,
    PullResult,
    PullStatus,
    retry_topic,
)
from rmq.client.offset_store import (
    LocalFileOffsetStore,
    ReadOffsetType,
    RemoteBrokerOffsetStore,
    Runner,
    default_offsets_dir,
    thread_runner,
)
from rmq.client.rebalance import AllocateStrategy, allocate_averagely
from rmq.client.routes import subscribe_queues
from rmq.common import message as m
from rmq.common.errors import MQClientError
from rmq.common.message import MessageExt
from rmq.common.route import TopicRouteData
from rmq.filter.tags import SubscriptionData, build_subscription

_log = Logger()


@attrs.define
class ConsumeContext:
    """Passed to listeners with each batch.

    Concurrent: set ``delay_level_when_next_consume`` (0 = broker decides, -1 = DLQ).
    Orderly: ``suspend_time`` is how long the queue waits after SUSPEND_CURRENT_QUEUE_A_MOMENT.
    """

    message_queue: MessageQueue
    delay_level_when_next_consume: int = 0
    suspend_time: float = 1.0


ConcurrentListener = Callable[
    [list[MessageExt], ConsumeContext], "ConsumeStatus | Deferred[ConsumeStatus]"
]
OrderlyListener = Callable[
    [list[MessageExt], ConsumeContext], "ConsumeOrderlyStatus | Deferred[ConsumeOrderlyStatus]"
]


@attrs.frozen
class PushConsumerConfig:
    """Push consumer settings (Java DefaultMQPushConsumer defaults; times in seconds)."""

    group: str
    message_model: MessageModel = MessageModel.CLUSTERING
    consume_from_where: ConsumeFromWhere = ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
    consume_timestamp_ms: int | None = None
    allocate: AllocateStrategy = allocate_averagely
    pull_batch_size: int = 32
    consume_batch_size: int = 1
    consume_concurrency: int = 20
    pull_threshold_for_queue: int = 1000
    pull_threshold_size_for_queue_mib: int = 100
    consume_concurrently_max_span: int = 2000
    max_reconsume_times: int = -1
    suspend_timeout: float = 15.0
    pull_timeout: float = 30.0
    pull_interval: float = 0.0
    delay_on_exception: float = 3.0
    delay_on_flow_control: float = 0.05
    local_retry_delay: float = 5.0
    lock_interval: float = 20.0
    lock_max_live: float = 30.0
    post_subscription_when_pull: bool = False
    offsets_dir: str | None = None


class _PullRequest:
    __slots__ = ("broker_id", "mq", "next_offset", "pq")

    def __init__(self, mq: MessageQueue, pq: ProcessQueue, offset: int) -> None:
        self.mq = mq
        self.pq = pq
        self.next_offset = offset
        self.broker_id = 0


@implementer(IConsumerInner)
class PushConsumer:
    """A consumer group member that receives messages through a listener."""

    def __init__(
        self,
        reactor: Any,
        config: PushConsumerConfig,
        client: ClientConfig | MQClientInstance,
        runner: Runner | None = None,
    ) -> None:
        self.reactor = reactor
        self.config = config
        self.group = config.group
        self.instance, self._owns_instance = instance_for(reactor, client)
        self._runner = runner
        self._subs: dict[str, SubscriptionData] = {}
        self._topic_queues: dict[str, list[MessageQueue]] = {}
        self.process_queues: dict[MessageQueue, ProcessQueue] = {}
        # Orderly queues dropped mid-batch: still locked until their listener returns.
        self._releasing: dict[MessageQueue, ProcessQueue] = {}
        self._listener: ConcurrentListener | None = None
        self._orderly: OrderlyListener | None = None
        self._sem = DeferredSemaphore(config.consume_concurrency)
        self.offsets: IOffsetStore | None = None
        self._running = False
        self._rebalancing: Deferred[None] | None = None
        self._rebalance_again = False
        self._lock_loop: LoopingCall | None = None
        self._started_at = 0.0
        self._sub_version = 0

    @property
    def clustering(self) -> bool:
        return self.config.message_model is MessageModel.CLUSTERING

    @property
    def orderly(self) -> bool:
        return self._orderly is not None

    # --- setup ------------------------------------------------------------------------------

    def subscribe(
        self,
        topic: str,
        expression: str | None = "*",
        expression_type: ExpressionType = ExpressionType.TAG,
    ) -> None:
        """Subscribe to ``topic`` with a tag expression (``a || b``) or SQL92 text."""
        self._sub_version = max(self._sub_version + 1, int(self.reactor.seconds() * 1000))
        self._subs[topic] = build_subscription(
            topic, expression, expression_type, self._sub_version
        )
        if self._running:
            self._subscription_changed(topic)

    def unsubscribe(self, topic: str) -> None:
        """Stop consuming ``topic``; its queues are released at the next rebalance (now)."""
        if self._subs.pop(topic, None) is not None and self._running:
            self._subscription_changed(None)

    def _subscription_changed(self, topic: str | None) -> None:
        d = self.instance.update_route(topic) if topic else succeed(None)
        d.addErrback(_warn(f"route of {topic}"))
        d.addCallback(lambda _: self.instance.heartbeat_all())
        d.addCallback(lambda _: self.do_rebalance())
        d.addErrback(_warn("subscription change"))

    def register_listener(self, listener: ConcurrentListener) -> None:
        """Concurrent consumption: ``listener(msgs, ctx)`` returns a status or its Deferred."""
        self._listener, self._orderly = listener, None

    def register_orderly_listener(self, listener: OrderlyListener) -> None:
        """Orderly consumption: one batch at a time per queue, in offset order."""
        self._orderly, self._listener = listener, None

    def start(self) -> Deferred[None]:
        """Register with the instance, load offsets, fetch routes, heartbeat and rebalance."""
        if self._listener is None and self._orderly is None:
            raise MQClientError("register a listener before start()")
        if not self._subs:
            raise MQClientError("subscribe to a topic before start()")
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        if self.clustering and retry_topic(self.group) not in self._subs:
            self._subs[retry_topic(self.group)] = build_subscription(
                retry_topic(self.group), "*", sub_version=self._sub_version
            )
        if self.clustering:
            self.offsets = RemoteBrokerOffsetStore(self.instance, self.group)
        else:
            self.offsets = LocalFileOffsetStore(
                self.config.offsets_dir or default_offsets_dir(),
                self.instance.client_id,
                self.group,
                self._runner or thread_runner(self.reactor),
            )
        await self.offsets.load()
        self.instance.register_consumer(self)
        self._running = True
        self._started_at = self.reactor.seconds()
        await self.instance.start()
        for topic in list(self._subs):
            try:
                await self.instance.update_route(topic)
            except Exception as e:
                _log.warn("route of {t}: {e}", t=topic, e=e)
        await self._check_sql_subscriptions()
        await self.instance.heartbeat_all()
        # The heartbeat makes the broker create %RETRY%<group>: fetch routes still missing.
        for topic in [t for t in self._subs if not self._topic_queues.get(t)]:
            try:
                await self.instance.update_route(topic)
            except Exception as e:
                _log.info("no route yet for {t}: {e}", t=topic, e=e)
        if self.orderly and self.clustering:
            loop = LoopingCall(self._lock_all)
            loop.clock = self.reactor
            self._lock_loop = loop
            loop.start(self.config.lock_interval, now=False).addErrback(_warn("lock loop"))
        await self.do_rebalance()

    async def _check_sql_subscriptions(self) -> None:
        for sub in self._subs.values():
            if sub.expression_type != ExpressionType.SQL92:
                continue
            addr = self.instance.any_broker_addr(sub.topic)
            if addr is not None:
                await self.instance.api.check_client_config(
                    addr, self.instance.client_id, self.group, sub, self.instance.config.api_timeout
                )

    def shutdown(self) -> Deferred[None]:
        """Stop pulling, persist offsets, release locks and unregister."""
        return Deferred.fromCoroutine(self._shutdown())

    async def _shutdown(self) -> None:
        if not self._running:
            return
        self._running = False
        if self._lock_loop is not None and self._lock_loop.running:
            self._lock_loop.stop()
        mqs = list(self.process_queues)
        for pq in self.process_queues.values():
            pq.dropped = True
        await self.persist_offsets()
        releasing = list(self._releasing)
        self._releasing.clear()
        if self.offsets is not None and releasing:
            await self.offsets.persist(releasing)
        if self.orderly and self.clustering:
            await self._unlock(mqs + releasing)
        self.process_queues.clear()
        await self.instance.unregister_consumer(self.group)
        if self._owns_instance:
            await self.instance.shutdown()

    def stop_abruptly(self) -> Deferred[None]:
        """Close connections without unregistering or persisting (simulates a crash)."""
        self._running = False
        if self._lock_loop is not None and self._lock_loop.running:
            self._lock_loop.stop()
        for pq in self.process_queues.values():
            pq.dropped = True
        self.instance.consumers.pop(self.group, None)
        self.instance.producers.clear()
        return self.instance.shutdown()

    # --- IConsumerInner ---------------------------------------------------------------------

    def consumer_data(self) -> dict[str, Any]:
        return {
            "consumeFromWhere": self.config.consume_from_where.value,
            "consumeType": ConsumeType.CONSUME_PASSIVELY.value,
            "groupName": self.group,
            "messageModel": self.config.message_model.value,
            "subscriptionDataSet": [s.to_json() for s in self._subs.values()],
            "unitMode": False,
        }

    def subscribed_topics(self) -> list[str]:
        return list(self._subs)

    def update_route(self, topic: str, route: TopicRouteData) -> None:
        self._topic_queues[topic] = subscribe_queues(topic, route)

    def persist_offsets(self) -> Deferred[None]:
        if self.offsets is None:
            return succeed(None)
        return self.offsets.persist(list(self.process_queues))

    def offsets_of(self, topic: str) -> dict[MessageQueue, int]:
        if self.offsets is None:
            return {}
        return {q: o for q, o in self.offsets.table().items() if q.topic == topic}

    def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        """Drop the topic's queues, store the new offsets, then rebalance to re-create them."""
        if self.offsets is None:
            return
        for mq, pq in list(self.process_queues.items()):
            if mq.topic == topic:
                pq.dropped = True
                pq.clear()
                del self.process_queues[mq]
        for mq, off in offsets.items():
            self.offsets.update(mq, off)
        d = self.offsets.persist(offsets)
        d.addCallback(lambda _: self.do_rebalance())
        d.addErrback(_warn("reset offset"))

    # --- rebalance -------------------------------------------------------------------------

    def do_rebalance(self) -> Deferred[None]:
        """Recompute owned queues; concurrent calls coalesce into one more run."""
        if not self._running:
            return succeed(None)
        if self._rebalancing is not None:
            self._rebalance_again = True
            return self._rebalancing
        d = Deferred.fromCoroutine(self._rebalance())

        def done(r: Any) -> Any:
            self._rebalancing = None
            if self._rebalance_again and self._running:
                self._rebalance_again = False
                self.reactor.callLater(0, self.do_rebalance)
            return r

        d.addBoth(done)
        if not d.called:
            self._rebalancing = d
        return d

    async def _rebalance(self) -> None:
        for topic, _sub in list(self._subs.items()):
            mq_all = self._topic_queues.get(topic)
            if not mq_all:
                continue
            if self.clustering:
                addr = self.instance.any_broker_addr(topic)
                if addr is None:
                    continue
                try:
                    cids = await self.instance.api.get_consumer_id_list(
                        addr, self.group, self.instance.config.api_timeout
                    )
                except Exception as e:
                    _log.warn("consumer list of {g}: {e}", g=self.group, e=e)
                    continue
                if not cids:
                    continue
                mine = self.config.allocate(self.instance.client_id, sorted(mq_all), sorted(cids))
            else:
                mine = list(mq_all)
            await self._update_queues(topic, set(mine))
        for mq in [q for q in self.process_queues if q.topic not in self._subs]:
            await self._drop(mq)

    async def _update_queues(self, topic: str, mine: set[MessageQueue]) -> None:
        for mq in [q for q in self.process_queues if q.topic == topic and q not in mine]:
            await self._drop(mq)
        for mq in sorted(mine - set(self.process_queues) - set(self._releasing)):
            if not self._running:
                return
            if self.orderly and self.clustering and not await self._lock(mq):
                continue
            offset = await self._compute_pull_from_where(mq)
            if offset < 0 or mq in self.process_queues or not self._running:
                continue
            pq = ProcessQueue()
            if self.orderly and self.clustering:
                pq.locked, pq.last_lock = True, self.reactor.seconds()
            self.process_queues[mq] = pq
            assert self.offsets is not None
            self.offsets.update(mq, offset)
            self.reactor.callLater(0, self._pull, _PullRequest(mq, pq, offset))

    async def _drop(self, mq: MessageQueue) -> None:
        pq = self.process_queues.pop(mq, None)
        if pq is None:
            return
        pq.dropped = True
        if self.orderly and self.clustering and pq.in_listener:
            # Keep the lock (and offset) until the batch ends, so no new owner consumes
            # the same messages meanwhile: _release finishes the drop.
            self._releasing[mq] = pq
            return
        await self._forget_offset(mq)
        if self.orderly and self.clustering:
            await self._unlock([mq])

    async def _forget_offset(self, mq: MessageQueue) -> None:
        assert self.offsets is not None
        try:
            await self.offsets.persist([mq])
        except Exception as e:
            _log.warn("persist {q}: {e}", q=mq, e=e)
        self.offsets.remove(mq)

    async def _release(self, mq: MessageQueue, pq: ProcessQueue, done: bool) -> None:
        """Finish dropping an orderly queue once its batch ended: commit, persist, unlock."""
        if self._releasing.get(mq) is not pq:
            return
        assert self.offsets is not None
        if done:
            self.offsets.update(mq, pq.commit())
        await self._forget_offset(mq)
        if self._releasing.pop(mq, None) is None:
            return  # shutdown took it meanwhile and unlocks it itself
        await self._unlock([mq])
        if self._running:
            self.do_rebalance().addErrback(_warn("rebalance"))

    async def _compute_pull_from_where(self, mq: MessageQueue) -> int:
        assert self.offsets is not None
        api, timeout = self.instance.api, self.instance.config.api_timeout
        try:
            last = await self.offsets.read(mq, ReadOffsetType.STORE)
            if last >= 0:
                return last
            where = self.config.consume_from_where
            if where is ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET:
                return 0
            is_retry = mq.topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
            addr = self.instance.broker_addr(mq.broker_name)
            if addr is None:
                return -1
            if where is ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET:
                return 0 if is_retry else await api.get_max_offset(addr, mq, timeout)
            if is_retry:
                return await api.get_max_offset(addr, mq, timeout)
            ts = self.config.consume_timestamp_ms
            if ts is None:
                ts = int((self._started_at - 1800) * 1000)
            return await api.search_offset(addr, mq, ts, timeout)
        except Exception as e:
            _log.warn("initial offset of {q}: {e}", q=mq, e=e)
            return -1

    # --- broker locks (orderly) ------------------------------------------------------------

    async def _lock(self, mq: MessageQueue) -> bool:
        addr = self.instance.master_addr(mq.broker_name)
        if addr is None:
            return False
        try:
            got = await self.instance.api.lock_batch_mq(
                addr, self.group, self.instance.client_id, [mq], self.instance.config.api_timeout
            )
        except Exception as e:
            _log.warn("lock {q}: {e}", q=mq, e=e)
            return False
        pq = self.process_queues.get(mq)
        if pq is not None and mq in got:
            pq.locked, pq.last_lock = True, self.reactor.seconds()
        return mq in got

    def _lock_all(self) -> Deferred[None]:
        """Renew the broker locks of every owned queue (every ``lock_interval``)."""
        return Deferred.fromCoroutine(self._lock_all_async())

    async def _lock_all_async(self) -> None:
        by_broker: dict[str, list[MessageQueue]] = {}
        for mq in [*self.process_queues, *self._releasing]:  # releasing: keep the batch safe
            by_broker.setdefault(mq.broker_name, []).append(mq)
        for broker, mqs in by_broker.items():
            addr = self.instance.master_addr(broker)
            if addr is None:
                continue
            try:
                got = await self.instance.api.lock_batch_mq(
                    addr, self.group, self.instance.client_id, mqs, self.instance.config.api_timeout
                )
            except Exception as e:
                _log.warn("lock renewal at {b}: {e}", b=broker, e=e)
                continue
            now = self.reactor.seconds()
            for mq in mqs:
                pq = self.process_queues.get(mq)
                if pq is None:
                    continue
                if mq in got:
                    pq.locked, pq.last_lock = True, now
                    if pq.msg_count:
                        self._submit_orderly(mq, pq)
                else:
                    pq.locked = False

    async def _unlock(self, mqs: Iterable[MessageQueue]) -> None:
        by_broker: dict[str, list[MessageQueue]] = {}
        for mq in mqs:
            by_broker.setdefault(mq.broker_name, []).append(mq)
        for broker, group in by_broker.items():
            addr = self.instance.master_addr(broker)
            if addr is None:
                continue
            try:
                await self.instance.api.unlock_batch_mq(
                    addr,
                    self.group,
                    self.instance.client_id,
                    group,
                    self.instance.config.api_timeout,
                )
            except Exception as e:
                _log.warn("unlock at {b}: {e}", b=broker, e=e)

    def _lock_valid(self, pq: ProcessQueue) -> bool:
        if not self.clustering:
            return True
        return pq.locked and self.reactor.seconds() - pq.last_lock <= self.config.lock_max_live

    # --- pull loop ---------------------------------------------------------------------------

    def _later(self, req: _PullRequest, delay: float) -> None:
        if self._running and not req.pq.dropped:
            self.reactor.callLater(delay, self._pull, req)

    def _pull(self, req: _PullRequest) -> None:
        pq, mq, cfg = req.pq, req.mq, self.config
        if pq.dropped or not self._running:
            return
        pq.last_pull = self.reactor.seconds()
        if (
            pq.msg_count > cfg.pull_threshold_for_queue
            or pq.msg_size >> 20 > cfg.pull_threshold_size_for_queue_mib  # whole MiB, as Java
        ):
            self._later(req, cfg.delay_on_flow_control)
            return
        if not self.orderly and pq.max_span() > cfg.consume_concurrently_max_span:
            self._later(req, cfg.delay_on_flow_control)
            return
        if self.orderly and not self._lock_valid(pq):
            self._later(req, cfg.delay_on_exception)
            return
        sub = self._subs.get(mq.topic)
        if sub is None:
            self._later(req, cfg.delay_on_exception)
            return
        broker_id = 0 if self.orderly else req.broker_id
        addr = self.instance.broker_addr(mq.broker_name, broker_id)
        if addr is None:
            self.instance.update_route(mq.topic).addErrback(_warn(f"route of {mq.topic}"))
            self._later(req, cfg.delay_on_exception)
            return
        is_master = addr == self.instance.master_addr(mq.broker_name)
        commit = 0
        assert self.offsets is not None
        if self.clustering:
            commit = max(self.offsets.get(mq) or 0, 0)
        flag = PULL_SUSPEND
        if commit > 0 and is_master:
            flag |= PULL_COMMIT_OFFSET
        post = cfg.post_subscription_when_pull
        if post:
            flag |= PULL_SUBSCRIPTION
        header = h.PullMessageRequestHeader(
            consumerGroup=self.group,
            topic=mq.topic,
            queueId=mq.queue_id,
            queueOffset=req.next_offset,
            maxMsgNums=cfg.pull_batch_size,
            sysFlag=flag,
            commitOffset=commit,
            suspendTimeoutMillis=int(cfg.suspend_timeout * 1000),
            subVersion=sub.sub_version,
            subscription=sub.sub_string if post else None,
            expressionType=sub.expression_type,
            bname=mq.broker_name,
        )
        d = self.instance.api.pull_message(addr, header, cfg.pull_timeout, sub)
        d.addCallbacks(self._on_pull, self._on_pull_error, callbackArgs=(req,), errbackArgs=(req,))

    def _on_pull(self, result: PullResult, req: _PullRequest) -> None:
        pq = req.pq
        req.broker_id = result.suggest_which_broker_id
        if pq.dropped or not self._running:
            return
        assert self.offsets is not None
        status = result.status
        if status is PullStatus.FOUND:
            req.next_offset = result.next_begin_offset
            if result.messages:
                pq.put(result.messages)
                if self.orderly:
                    self._submit_orderly(req.mq, pq)
                else:
                    self._submit(req.mq, pq, result.messages)
            self._later(req, self.config.pull_interval)
        elif status in (PullStatus.NO_NEW_MSG, PullStatus.NO_MATCHED_MSG):
            req.next_offset = result.next_begin_offset
            if pq.msg_count == 0:
                self.offsets.update(req.mq, req.next_offset, increase_only=True)
            self._later(req, 0)
        else:
            _log.warn("offset illegal on {q}: {r}", q=req.mq, r=result)
            req.next_offset = result.next_begin_offset
            pq.dropped = True
            self.reactor.callLater(self.config.delay_on_exception * 3, self._fix_offset, req)

    def _fix_offset(self, req: _PullRequest) -> None:
        assert self.offsets is not None
        self.offsets.update(req.mq, req.next_offset)
        self.offsets.persist([req.mq]).addErrback(_warn("persist"))
        if self.process_queues.get(req.mq) is req.pq:
            del self.process_queues[req.mq]
        self.instance.rebalance_soon()

    def _on_pull_error(self, failure: Failure, req: _PullRequest) -> None:
        if self._running and not req.pq.dropped:
            _log.warn("pull {q}: {e}", q=req.mq, e=failure.getErrorMessage())
            self._later(req, self.config.delay_on_exception)

    # --- concurrent consumption --------------------------------------------------------------

    def _restore(self, msg: MessageExt) -> MessageExt:
        if msg.topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            real = msg.properties_dict.get(m.RETRY_TOPIC)
            if real:
                return attrs.evolve(msg, topic=real)
        return msg

    def _submit(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        n = self.config.consume_batch_size
        for i in range(0, len(msgs), n):
            batch = msgs[i : i + n]
            self._sem.run(self._consume, mq, pq, batch)

    async def _consume(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        if pq.dropped:
            return
        assert self._listener is not None and self.offsets is not None
        ctx = ConsumeContext(mq)
        status = await self._call(self._listener, [self._restore(x) for x in msgs], ctx)
        pq.last_consume = self.reactor.seconds()
        failed: list[MessageExt] = []
        if status is not ConsumeStatus.CONSUME_SUCCESS:
            if self.clustering:
                for msg in msgs:
                    if not await self._send_back(mq, msg, ctx.delay_level_when_next_consume):
                        failed.append(msg)
            else:
                _log.warn("broadcast consume failed; {n} messages dropped", n=len(msgs))
        done = [x for x in msgs if x not in failed] if failed else msgs
        offset = pq.remove(done)
        if offset >= 0 and not pq.dropped:
            self.offsets.update(mq, offset, increase_only=True)
        if failed:
            again = [attrs.evolve(x, reconsume_times=x.reconsume_times + 1) for x in failed]
            self.reactor.callLater(self.config.local_retry_delay, self._submit_again, mq, pq, again)

    def _submit_again(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]) -> None:
        if not pq.dropped:
            self._submit(mq, pq, msgs)

    async def _call(self, listener: Callable[..., Any], msgs: list[MessageExt], ctx: Any) -> Any:
        try:
            return await maybeDeferred(listener, msgs, ctx)
        except Exception:
            _log.failure("listener of {g} raised", g=self.group)
            return None

    def _max_reconsume(self) -> int:
        return 16 if self.config.max_reconsume_times < 0 else self.config.max_reconsume_times

    async def _send_back(self, mq: MessageQueue, msg: MessageExt, delay_level: int) -> bool:
        addr = self.instance.master_addr(mq.broker_name)
        if addr is None:
            addr = f"{msg.store_host[0]}:{msg.store_host[1]}"
        try:
            await self.instance.api.send_back(
                addr,
                msg,
                self.group,
                delay_level,
                self._max_reconsume(),
                self.instance.config.api_timeout,
                mq.broker_name,
            )
        except Exception as e:
            _log.warn("send back of {id} failed: {e}", id=msg.msg_id, e=e)
            return False
        return True

    async def _send_back_all(self, mq: MessageQueue, msgs: list[MessageExt]) -> bool:
        """Dead-letter each message (orderly, retries exhausted); False if any send failed."""
        ok = True
        for msg in msgs:
            if not await self._send_back(mq, msg, -1):
                ok = False
        return ok

    # --- orderly consumption -----------------------------------------------------------------

    def _submit_orderly(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        """Start the queue's consume loop unless one is running or waiting to resume."""
        if pq.consuming_batch or pq.dropped:
            return
        pq.consuming_batch = True
        self._run_orderly(mq, pq)

    def _run_orderly(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        d = Deferred.fromCoroutine(self._consume_orderly(mq, pq))
        d.addErrback(_warn(f"orderly consume of {mq}"))

    async def _consume_orderly(self, mq: MessageQueue, pq: ProcessQueue) -> None:
        """Consume batches in offset order until the cache is empty or the queue must wait.

        While waiting (suspended or unlocked) the queue stays marked as consuming, so new
        pulls do not start a second loop; the scheduled resume continues this one.
        """
        assert self._orderly is not None and self.offsets is not None
        retry_in: float | None = None
        try:
            while self._running and not pq.dropped:
                if not self._lock_valid(pq):
                    retry_in = self.config.delay_on_exception
                    break
                msgs = pq.take(self.config.consume_batch_size)
                if not msgs:
                    break
                ctx = ConsumeContext(mq)
                done = False
                pq.in_listener = True
                try:
                    status = await self._call(self._orderly, [self._restore(x) for x in msgs], ctx)
                    pq.last_consume = self.reactor.seconds()
                    done = status is ConsumeOrderlyStatus.SUCCESS
                    limit = self.config.max_reconsume_times
                    if not done and limit >= 0 and all(x.reconsume_times >= limit for x in msgs):
                        # Commit only once every message reached the DLQ, else keep the batch.
                        done = await self._send_back_all(mq, msgs)
                finally:
                    pq.in_listener = False
                if pq.dropped:
                    await self._release(mq, pq, done)
                    break
                if done:
                    self.offsets.update(mq, pq.commit())
                    continue
                pq.rollback(bump=True)
                retry_in = ctx.suspend_time
                break
        finally:
            if retry_in is None or pq.dropped or not self._running:
                pq.consuming_batch = False
        if retry_in is not None and pq.consuming_batch:
            self.reactor.callLater(retry_in, self._run_orderly, mq, pq)

    # --- admin answers -----------------------------------------------------------------------

    def running_info(self) -> dict[Any, Any]:
        """ConsumerRunningInfo: properties, subscriptions and per-queue state."""
        from rmq.common import fastjson

        table = self.offsets.table() if self.offsets is not None else {}
        mq_table: dict[Any, Any] = {}
        for mq, pq in self.process_queues.items():
            mq_table[fastjson.ObjectKey.of(mq.to_obj())] = {
                "cachedMsgCount": pq.msg_count,
                "cachedMsgMaxOffset": max(pq.max_offset, 0),
                "cachedMsgMinOffset": pq.first_offset() or 0,
                "cachedMsgSizeInMiB": pq.msg_size // (1024 * 1024),
                "commitOffset": table.get(mq, -1),
                "droped": pq.dropped,
                "lastConsumeTimestamp": int(pq.last_consume * 1000),
                "lastLockTimestamp": int(pq.last_lock * 1000),
                "lastPullTimestamp": int(pq.last_pull * 1000),
                "locked": pq.locked,
                "transactionMsgCount": 0,
                "transactionMsgMaxOffset": 0,
                "transactionMsgMinOffset": 0,
                "tryUnlockTimes": 0,
            }
        props = {
            "PROP_CLIENT_VERSION": "V4_9_8",
            "PROP_CONSUMEORDERLY": "true" if self.orderly else "false",
            "PROP_CONSUMER_START_TIMESTAMP": str(int(self._started_at * 1000)),
            "PROP_CONSUME_TYPE": ConsumeType.CONSUME_PASSIVELY.value,
            "PROP_NAMESERVER_ADDR": ";".join(self.instance.namesrv.addresses),
            "PROP_THREADPOOL_CORE_SIZE": str(self.config.consume_concurrency),
            "consumeFromWhere": self.config.consume_from_where.value,
            "consumerGroup": self.group,
            "messageModel": self.config.message_model.value,
            "pullBatchSize": str(self.config.pull_batch_size),
        }
        return {
            "mqTable": mq_table,
            "properties": props,
            "statusTable": {},
            "subscriptionSet": [s.to_json() for s in self._subs.values()],
        }

    def consume_directly(
        self, msg: MessageExt, broker_name: str | None
    ) -> Deferred[dict[str, Any]]:
        """Run the listener on one message and report the outcome (admin tool request)."""
        return Deferred.fromCoroutine(self._consume_directly(msg, broker_name))

    async def _consume_directly(self, msg: MessageExt, broker_name: str | None) -> dict[str, Any]:
        mq = MessageQueue(msg.topic, broker_name or "", msg.queue_id)
        begin = self.reactor.seconds()
        listener: Callable[..., Any] | None = self._orderly or self._listener
        assert listener is not None
        status = await self._call(listener, [self._restore(msg)], ConsumeContext(mq))
        ok = status in (ConsumeStatus.CONSUME_SUCCESS, ConsumeOrderlyStatus.SUCCESS)
        result = "CR_THROW_EXCEPTION" if status is None else "CR_SUCCESS" if ok else "CR_LATER"
        return {
            "autoCommit": True,
            "consumeResult": result,
            "order": self.orderly,
            "remark": "",
            "spentTimeMills": int((self.reactor.seconds() - begin) * 1000),
        }


def _warn(what: str) -> Callable[[Failure], None]:
    def log(f: Failure) -> None:
        _log.warn("{what} failed: {err}", what=what, err=f.getErrorMessage())

    return log
