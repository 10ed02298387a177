"""MQClientInstance: connections, the route cache, the periodic tasks and broker->client requests.

One instance serves the producers and consumers registered with it (Java's MQClientInstance).
Timers (REFERENCE §7.3) run as LoopingCalls on the injected reactor; each survives errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq import headers as h
from rmq.client.api import MQClientAPI
from rmq.client.config import ClientConfig, Fetcher, NameServerAddresses, build_client_id
from rmq.client.interfaces import IConsumerInner, IProducerInner
from rmq.client.model import CLIENT_INNER_PRODUCER_GROUP, MessageQueue
from rmq.client.routes import MASTER_ID
from rmq.common import fastjson
from rmq.common import message as m
from rmq.common.errors import MQClientError, RemoteError, RMQError
from rmq.common.route import TopicRouteData
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.interfaces import IRemotingClient
from rmq.remoting.protocol import RemotingConnection

_log = Logger()


def _logged(what: str) -> Callable[[Failure], None]:
    def log(f: Failure) -> None:
        _log.warn("{what} failed: {err}", what=what, err=f.getErrorMessage())

    return log


class MQClientInstance:
    """Shared client machinery for producers and consumers of one configuration.

    ``remoting`` may be injected (tests use an in-memory fake); otherwise a
    ``RemotingClient`` is made whose dispatcher answers the broker's requests.
    """

    def __init__(
        self,
        reactor: Any,
        config: ClientConfig,
        remoting: IRemotingClient | None = None,
        fetch_address: Fetcher | None = None,
    ) -> None:
        self.reactor = reactor
        self.config = config
        self.client_id = build_client_id(config, reactor.seconds())
        self.dispatcher = Dispatcher()
        self._register_handlers()
        self.remoting: IRemotingClient = remoting or RemotingClient(
            reactor, self.dispatcher, connect_timeout=config.connect_timeout
        )
        self.api = MQClientAPI(self.remoting, config.language)
        self.namesrv = NameServerAddresses(reactor, config, fetch_address)
        self.routes: dict[str, TopicRouteData] = {}
        self.broker_addrs: dict[str, dict[int, str]] = {}
        self.broker_versions: dict[str, int] = {}
        self.producers: dict[str, IProducerInner] = {}
        self.consumers: dict[str, IConsumerInner] = {}
        self._loops: list[LoopingCall] = []
        self._delayed: list[IDelayedCall] = []
        self._rebalance_call: IDelayedCall | None = None
        self.started = False
        self._stopping = False

    # --- registration -----------------------------------------------------------------

    def register_producer(self, producer: IProducerInner) -> None:
        if producer.group in self.producers:
            raise MQClientError(f"producer group {producer.group} already registered")
        self.producers[producer.group] = producer

    def register_consumer(self, consumer: IConsumerInner) -> None:
        if consumer.group in self.consumers:
            raise MQClientError(f"consumer group {consumer.group} already registered")
        self.consumers[consumer.group] = consumer

    def unregister_producer(self, group: str) -> Deferred[None]:
        """Forget a producer group and tell every broker (UNREGISTER_CLIENT)."""
        self.producers.pop(group, None)
        return self._unregister(group, None)

    def unregister_consumer(self, group: str) -> Deferred[None]:
        """Forget a consumer group and tell every broker (UNREGISTER_CLIENT)."""
        self.consumers.pop(group, None)
        return self._unregister(None, group)

    def _unregister(self, producer: str | None, consumer: str | None) -> Deferred[None]:
        calls = [
            self.api.unregister_client(
                addr, self.client_id, producer, consumer, self.config.api_timeout
            ).addErrback(_logged(f"unregister at {addr}"))
            for addrs in self.broker_addrs.values()
            for addr in addrs.values()
        ]
        return DeferredList(calls).addCallback(lambda _: None)

    @property
    def idle(self) -> bool:
        """True when no producer or consumer is registered any more."""
        return not self.producers and not self.consumers

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Start the periodic tasks (idempotent)."""
        if self.started:
            return succeed(None)
        self.started = True
        c = self.config
        self._every(self.update_all_routes, c.poll_name_server_interval, 0.01)
        self._every(self.heartbeat_all, c.heartbeat_broker_interval, 1.0)
        self._every(self.persist_all_offsets, c.persist_consumer_offset_interval, 10.0)
        self._every(self.rebalance_all, c.rebalance_interval, c.rebalance_interval)
        return self.namesrv.start()

    def _every(self, fn: Callable[[], Deferred[Any]], interval: float, first: float) -> None:
        def safe() -> Deferred[None]:
            try:
                d = fn()
            except Exception:
                _log.failure("periodic task {fn} raised", fn=fn.__name__)
                return succeed(None)
            return d.addErrback(_logged(fn.__name__)).addCallback(lambda _: None)

        loop = LoopingCall(safe)
        loop.clock = self.reactor
        self._loops.append(loop)
        self._delayed.append(self.reactor.callLater(first, loop.start, interval, True))

    def shutdown(self) -> Deferred[None]:
        """Stop timers, flush offsets, unregister every group and close connections."""
        if self._stopping:
            return succeed(None)
        self._stopping = True
        for call in self._delayed:
            if call.active():
                call.cancel()
        for loop in self._loops:
            if loop.running:
                loop.stop()
        if self._rebalance_call is not None and self._rebalance_call.active():
            self._rebalance_call.cancel()
        self.namesrv.stop()
        return Deferred.fromCoroutine(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            await self.persist_all_offsets()
            for group in list(self.consumers):
                await self.unregister_consumer(group)
            for group in list(self.producers):
                await self.unregister_producer(group)
        except Exception:
            _log.failure("shutdown")
        await self.remoting.close()

    # --- routes -----------------------------------------------------------------------

    def fetch_route(self, topic: str) -> Deferred[TopicRouteData]:
        """Ask the name servers in turn for ``topic``'s route (no caching)."""
        addrs = self.namesrv.choose()
        if not addrs:
            return _fail(MQClientError("no name server address known yet"))
        result: Deferred[TopicRouteData] = Deferred()

        def attempt(i: int, last: Failure | None) -> None:
            if i >= len(addrs):
                assert last is not None
                result.errback(last)
                return
            d = self.api.get_route(addrs[i], topic, self.config.api_timeout)

            def failed(f: Failure) -> None:
                if f.check(RemoteError):  # the name server answered: do not try another
                    result.errback(f)
                else:
                    attempt(i + 1, f)

            d.addCallbacks(result.callback, failed)

        attempt(0, None)
        return result

    def update_route(self, topic: str) -> Deferred[TopicRouteData]:
        """Fetch ``topic``'s route, cache it and hand it to every interested group."""
        return self.fetch_route(topic).addCallback(self.apply_route, topic)

    def apply_route(self, route: TopicRouteData, topic: str) -> TopicRouteData:
        """Cache a route and its broker addresses; notify producers and consumers."""
        self.routes[topic] = route
        for bd in route.brokerDatas:
            self.broker_addrs[bd.brokerName] = dict(bd.brokerAddrs)
        for p in list(self.producers.values()):
            if topic in p.published_topics():
                p.update_route(topic, route)
        for c in list(self.consumers.values()):
            if topic in c.subscribed_topics():
                c.update_route(topic, route)
        return route

    def update_all_routes(self) -> Deferred[None]:
        """Refresh the route of every topic a producer or consumer uses."""
        topics: set[str] = set()
        for p in self.producers.values():
            topics.update(p.published_topics())
        for c in self.consumers.values():
            topics.update(c.subscribed_topics())
        calls = [self.update_route(t).addErrback(_logged(f"route of {t}")) for t in sorted(topics)]
        return DeferredList(calls).addCallback(lambda _: None)

    def master_addr(self, broker_name: str) -> str | None:
        """The master (id 0) address of a broker name, if known."""
        return self.broker_addrs.get(broker_name, {}).get(MASTER_ID)

    def broker_addr(self, broker_name: str, broker_id: int = MASTER_ID) -> str | None:
        """An address of ``broker_name``: ``broker_id`` if present, else the master, else any."""
        addrs = self.broker_addrs.get(broker_name)
        if not addrs:
            return None
        return addrs.get(broker_id) or addrs.get(MASTER_ID) or next(iter(addrs.values()))

    def any_broker_addr(self, topic: str) -> str | None:
        """Some broker serving ``topic`` (the master when it has one)."""
        route = self.routes.get(topic)
        if route is None:
            return None
        for bd in sorted(route.brokerDatas, key=lambda b: b.brokerName):
            addr = self.broker_addr(bd.brokerName)
            if addr:
                return addr
        return None

    # --- heartbeat, rebalance, offsets ------------------------------------------------

    def heartbeat_data(self) -> dict[str, Any]:
        """HeartbeatData: this client's id, producer groups and consumer data."""
        producers = [{"groupName": g} for g in sorted(self.producers)]
        if self.consumers or self.producers:
            producers.append({"groupName": CLIENT_INNER_PRODUCER_GROUP})
        return {
            "clientID": self.client_id,
            "consumerDataSet": [c.consumer_data() for c in self.consumers.values()],
            "producerDataSet": producers,
        }

    def heartbeat_all(self) -> Deferred[None]:
        """HEART_BEAT to every known broker (masters only unless a consumer is registered)."""
        if self.idle:
            return succeed(None)
        data = self.heartbeat_data()
        calls = []
        for name, addrs in list(self.broker_addrs.items()):
            for bid, addr in addrs.items():
                if bid != MASTER_ID and not self.consumers:
                    continue
                d = self.api.heartbeat(addr, data, self.config.api_timeout)
                d.addCallback(self._record_version, addr)
                calls.append(d.addErrback(_logged(f"heartbeat to {name} {addr}")))
        return DeferredList(calls).addCallback(lambda _: None)

    def _record_version(self, version: int, addr: str) -> None:
        self.broker_versions[addr] = version

    def rebalance_all(self) -> Deferred[None]:
        """Run every consumer's rebalance."""
        calls = [
            c.do_rebalance().addErrback(_logged(f"rebalance of {c.group}"))
            for c in list(self.consumers.values())
        ]
        return DeferredList(calls).addCallback(lambda _: None)

    def rebalance_soon(self) -> None:
        """Coalesce rebalance requests into one run on the next reactor turn."""
        if self._stopping or (self._rebalance_call and self._rebalance_call.active()):
            return
        self._rebalance_call = self.reactor.callLater(0, self.rebalance_all)

    def persist_all_offsets(self) -> Deferred[None]:
        """Every consumer pushes its offsets to its offset store."""
        calls = [
            c.persist_offsets().addErrback(_logged(f"offsets of {c.group}"))
            for c in list(self.consumers.values())
        ]
        return DeferredList(calls).addCallback(lambda _: None)

    # --- broker -> client requests ---------------------------------------------------------

    def _register_handlers(self) -> None:
        d = self.dispatcher
        d.register(RequestCode.CHECK_TRANSACTION_STATE, self._on_check_transaction)
        d.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, self._on_notify_ids_changed)
        d.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, self._on_reset_offset)
        d.register(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, self._on_get_status)
        d.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self._on_running_info)
        d.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self._on_consume_directly)

    def _on_check_transaction(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand | None:
        header = h.CheckTransactionStateRequestHeader.from_ext(req.ext_fields)
        msg, _ = m.decode_message_ext(req.body or b"")
        group = msg.properties_dict.get(m.PGROUP)
        producer = self.producers.get(group or "")
        if producer is None:
            _log.warn("transaction check for unknown producer group {g}", g=group)
            return None
        producer.check_transaction_state(conn.peer, msg, header)
        return None

    def _on_notify_ids_changed(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand | None:
        self.rebalance_soon()
        return None

    def _on_reset_offset(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand | None:
        header = h.ResetOffsetRequestHeader.from_ext(req.ext_fields)
        consumer = self.consumers.get(header.group)
        if consumer is not None and req.body:
            consumer.reset_offset(header.topic, parse_reset_offset_body(req.body))
        return None

    def _on_get_status(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        topic = req.ext_fields.get("topic", "")
        consumer = self.consumers.get(req.ext_fields.get("group", ""))
        table = consumer.offsets_of(topic) if consumer is not None else {}
        mqs = {fastjson.ObjectKey.of(q.to_obj()): o for q, o in table.items()}
        body = {"messageQueueTable": mqs}
        return req.make_response(body=fastjson.dumpb(body))

    def _on_running_info(self, conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        header = h.GetConsumerRunningInfoRequestHeader.from_ext(req.ext_fields)
        consumer = self.consumers.get(header.consumerGroup)
        if consumer is None:
            return req.make_response(
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer Group <{header.consumerGroup}> not exist in this consumer",
            )
        return req.make_response(body=fastjson.dumpb(consumer.running_info()))

    def _on_consume_directly(
        self, conn: RemotingConnection, req: RemotingCommand
    ) -> Deferred[RemotingCommand | None]:
        header = h.ConsumeMessageDirectlyRequestHeader.from_ext(req.ext_fields)
        consumer = self.consumers.get(header.consumerGroup)
        if consumer is None:
            raise RMQError(f"The Consumer Group <{header.consumerGroup}> not exist")
        msg, _ = m.decode_message_ext(req.body or b"")
        d = consumer.consume_directly(msg, header.brokerName)
        return d.addCallback(lambda res: req.make_response(body=fastjson.dumpb(res)))


def parse_reset_offset_body(body: bytes) -> dict[MessageQueue, int]:
    """ResetOffsetBody (object keys) or ResetOffsetBodyForC (a list) -> {queue: offset}."""
    obj = fastjson.loads(body)
    table = obj.get("offsetTable") if isinstance(obj, dict) else None
    out: dict[MessageQueue, int] = {}
    if isinstance(table, list):
        for item in table:
            out[MessageQueue.from_obj(item)] = int(item["offset"])
    elif isinstance(table, dict):
        for key, value in table.items():
            if isinstance(key, fastjson.ObjectKey):
                out[MessageQueue.from_obj(key.as_dict())] = int(value)
    return out


def _fail(exc: Exception) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(exc)
    return d


def instance_for(
    reactor: Any, client: ClientConfig | MQClientInstance
) -> tuple[MQClientInstance, bool]:
    """The instance a producer or consumer runs on, and whether it owns (and so stops) it.

    Passing a ``ClientConfig`` gives the caller its own instance; passing an instance shares it.
    """
    if isinstance(client, MQClientInstance):
        return client, False
    return MQClientInstance(reactor, client), True
