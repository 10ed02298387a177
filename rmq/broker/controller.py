"""BrokerController: owns the broker's config, store, managers, dispatcher and timers.

Processors read what they need from its attributes (``broker.config``, ``broker.store``,
``broker.topics``, ...). ``start()`` loads state, listens, registers with every name server and
starts the timers; ``stop()`` undoes that in reverse order, persisting state on the way out.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from rmq.broker.config import BrokerConfig
from rmq.broker.persist import Runner
from rmq.remoting.client import RemotingClient
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.server import RemotingServerFactory
from rmq.store.config import StoreConfig

if TYPE_CHECKING:
    from rmq.broker.clients import ConsumerManager, ProducerManager
    from rmq.broker.flowcontrol import LagProbe, RequestGate
    from rmq.broker.locks import RebalanceLockManager
    from rmq.broker.longpoll import PullHoldService
    from rmq.broker.offsets import ConsumerOffsetManager
    from rmq.broker.registration import BrokerRegistration
    from rmq.broker.schedule import ScheduleMessageService
    from rmq.broker.subgroups import SubscriptionGroupManager
    from rmq.broker.topics import TopicConfigManager
    from rmq.broker.transaction.service import TransactionService
    from rmq.store.interfaces import IMessageStore

__all__ = ["PROCESSOR_MODULES", "BrokerController"]

_log = Logger()

PROCESSOR_MODULES = (
    "rmq.broker.processor.admin",
    "rmq.broker.processor.query",
    "rmq.broker.processor.send",
    "rmq.broker.processor.pull",
    "rmq.broker.processor.client",
    "rmq.broker.processor.consumer",
    "rmq.broker.processor.orderly",
    "rmq.broker.processor.filtercheck",
    "rmq.broker.processor.sendback",
    "rmq.broker.processor.reset",
    "rmq.broker.processor.forward",
    "rmq.broker.transaction.processor",
    "rmq.broker.flowcontrol",
)
"""Modules whose ``register(dispatcher, broker)`` the controller calls (missing ones skipped)."""


class BrokerController:
    """One broker: state, request processors and periodic tasks on an injected reactor."""

    def __init__(
        self,
        config: BrokerConfig,
        store_config: StoreConfig,
        clock: Any,
        *,
        store: Any = None,
        runner: Runner | None = None,
    ) -> None:
        self.config = config
        self.store_config = store_config
        self.clock = clock
        self.runner = runner
        """Runs slow disk work off the reactor thread: ``runner(fn, *args) -> Deferred``."""
        self.dispatcher = Dispatcher()
        self._injected_store = store
        self._built = False
        # Created by build() (state is loaded there, so construction stays cheap):
        self.store: IMessageStore
        self.topics: TopicConfigManager
        self.subgroups: SubscriptionGroupManager
        self.offsets: ConsumerOffsetManager
        self.producers: ProducerManager
        self.consumers: ConsumerManager
        self.longpoll: PullHoldService
        self.locks: RebalanceLockManager
        self.schedule: ScheduleMessageService | None = None
        """Delay-level service (issue 5): sends with DELAY > 0 go through it."""
        self.transactions: TransactionService | None = None
        """Transactional-message service (issue 5): half messages, END_TRANSACTION, check-back."""
        self.registration: BrokerRegistration | None = None
        self.send_gate: RequestGate | None = None
        """The send codes' flow-control gate (rmq.broker.flowcontrol registers it)."""
        self.lag_probe: LagProbe | None = None
        """Reactor-lag probe behind send fast failure; started with the other timers."""
        self.namesrv_client = RemotingClient(clock)
        self.server_factory = RemotingServerFactory(
            self.dispatcher, clock, idle_timeout=config.server_channel_max_idle_time_seconds
        )
        self.port: IListeningPort | None = None
        self.address = f"{config.broker_ip1}:{config.listen_port}"
        self.store_host: tuple[str, int] = (config.broker_ip1, config.listen_port)
        self.start_time = 0.0
        self._loops: list[LoopingCall] = []
        self._running = False

    # --- paths -------------------------------------------------------------------------

    @property
    def config_dir(self) -> str:
        """Directory of topics.json, subscriptionGroup.json and consumerOffset.json."""
        if self.config.store_path_config:
            return os.path.expanduser(self.config.store_path_config)
        return os.path.join(self.store_config.root_dir, "config")

    def config_path(self, name: str) -> str:
        return os.path.join(self.config_dir, name)

    # --- life cycle ----------------------------------------------------------------------

    def run_in_thread(self, work: Callable[[], None]) -> Deferred[None]:
        """Run ``work()`` with the injected runner, or in the reactor's thread pool."""
        if self.runner is not None:
            return self.runner(work)
        from twisted.internet.threads import deferToThreadPool

        return deferToThreadPool(self.clock, self.clock.getThreadPool(), work)

    def build(self) -> None:
        """Create the store (if not injected), managers and processors; load persisted state."""
        from rmq.broker.clients import ConsumerManager, ProducerManager
        from rmq.broker.locks import RebalanceLockManager
        from rmq.broker.longpoll import PullHoldService
        from rmq.broker.offsets import ConsumerOffsetManager
        from rmq.broker.subgroups import SubscriptionGroupManager
        from rmq.broker.topics import TopicConfigManager

        os.makedirs(self.config_dir, exist_ok=True)
        if self._injected_store is not None:
            self.store = self._injected_store
        else:
            from rmq.store.message_store import MessageStore

            self.store = MessageStore(
                self.store_config, self.clock, store_host=self.store_host, runner=self.runner
            )
        self.topics = TopicConfigManager(
            self.config_path("topics.json"), self.config, self.clock, self.run_in_thread
        )
        self.subgroups = SubscriptionGroupManager(
            self.config_path("subscriptionGroup.json"), self.config, self.clock, self.run_in_thread
        )
        self.offsets = ConsumerOffsetManager(
            self.config_path("consumerOffset.json"), self.run_in_thread
        )
        self.producers = ProducerManager(self.clock, self.config)
        self.consumers = ConsumerManager(self.clock, self.config, self._notify_enabled)
        self.longpoll = PullHoldService(self)
        self.locks = RebalanceLockManager()
        self.topics.load()
        self.subgroups.load()
        self.offsets.load()
        self._build_features()
        self.register_processors()
        self._built = True

    def _build_features(self) -> None:
        """Delay levels and transactions (issue 5)."""
        from rmq.broker.schedule import ScheduleMessageService
        from rmq.broker.transaction.service import TransactionService

        self.schedule = ScheduleMessageService(
            self.store,
            self.clock,
            self.config.message_delay_level,
            self.config_path("delayOffset.json"),
            self.run_in_thread,
        )
        self.schedule.load()
        self.transactions = TransactionService(self)

    def _notify_enabled(self, group: str) -> bool:
        cfg = self.subgroups.get(group)
        return cfg is None or bool(cfg.notify_consumer_ids_changed_enable)

    def register_processors(self) -> None:
        """Call ``register(dispatcher, broker)`` of every processor module present."""
        import importlib

        for name in PROCESSOR_MODULES:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as e:
                if e.name != name:
                    raise
                _log.warn("processor module {m} not present; skipped", m=name)
                continue
            module.register(self.dispatcher, self)

    def start(self, endpoint: str | None = None) -> Deferred[None]:
        """Load, listen on ``endpoint`` (default ``tcp:<listenPort>``), register, start timers."""
        return Deferred.fromCoroutine(self._start(endpoint))

    async def _start(self, endpoint: str | None) -> None:
        self.start_time = self.clock.seconds()
        if not self._built:
            self.build()
        start = getattr(self.store, "start", None)
        if start is not None:
            started = start()
            if isinstance(started, Deferred):
                await started
        desc = endpoint or f"tcp:{self.config.listen_port}:interface={self.config.broker_ip1}"
        self.port = await serverFromString(self.clock, desc).listen(self.server_factory)
        bound = self.port.getHost().port  # type: ignore[union-attr]
        self.config.listen_port = bound
        self.address = f"{self.config.broker_ip1}:{bound}"
        self.store_host = (self.config.broker_ip1, bound)
        self._running = True
        self._start_services()
        _log.info(
            "broker {name} listening at {addr}", name=self.config.broker_name, addr=self.address
        )

    def _start_services(self) -> None:
        from rmq.broker.registration import BrokerRegistration

        if self.longpoll is not None:
            self.longpoll.start()
        self.consumers.start()
        self.producers.start()
        if self.lag_probe is not None:
            self._loops.append(self.lag_probe.start())
        self._every(
            self.config.flush_consumer_offset_interval / 1000.0, self._persist_offsets, now=False
        )
        self.registration = BrokerRegistration(self)
        self.registration.start()
        if self.config.broker_id == 0:  # delivery and check-back run on masters only
            if self.schedule is not None:
                self.schedule.start()
            if self.transactions is not None:
                self.transactions.start()

    def _every(self, interval: float, fn: Callable[[], Any], now: bool = True) -> None:
        loop = LoopingCall(fn)
        loop.clock = self.clock
        d = loop.start(interval, now=now)
        d.addErrback(lambda f: _log.failure("periodic task {fn} died", f, fn=fn))
        self._loops.append(loop)

    def _persist_offsets(self) -> Deferred[Any]:
        d: Deferred[Any] = self.offsets.persist()
        d.addErrback(lambda f: _log.failure("persisting consumer offsets failed", f))
        return d

    def stop(self) -> Deferred[None]:
        """Unregister, stop listening, persist everything and shut the store down."""
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if not self._running:
            return
        self._running = False
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops.clear()
        if self.registration is not None:
            try:
                await self.registration.stop()
            except Exception:
                _log.failure("unregistering from name servers failed")
        if self.port is not None:
            stopped = self.port.stopListening()
            if stopped is not None:
                await stopped
        self.server_factory.close_all()
        for svc in (self.longpoll, self.consumers, self.producers, self.transactions):
            if svc is not None:
                svc.stop()
        if self.schedule is not None:
            try:
                await self.schedule.stop()
            except Exception:
                _log.failure("persisting delay offsets at shutdown failed")
        for mgr in (self.offsets, self.topics, self.subgroups):
            try:
                await mgr.persist()
            except Exception:
                _log.failure("persisting {m} at shutdown failed", m=type(mgr).__name__)
        await self.namesrv_client.close()
        shutdown = getattr(self.store, "shutdown", None) or getattr(self.store, "stop", None)
        if shutdown is not None:
            done = shutdown()
            if isinstance(done, Deferred):
                await done

    # --- info ----------------------------------------------------------------------------

    def runtime_info(self) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO table: broker facts plus the store's own figures."""
        info: dict[str, str] = {
            "brokerVersionDesc": "V4_9_8",
            "brokerVersion": "409",
            "bootTimestamp": str(int(self.start_time * 1000)),
            "runtime": _runtime(self.clock.seconds() - self.start_time),
        }
        gate, probe = self.send_gate, self.lag_probe
        if gate is not None:
            # The reactor's backlog is this broker's send queue: report its lag as the head wait.
            lag = probe.lag_ms if probe is not None else 0
            info["sendThreadPoolQueueSize"] = str(gate.queue_size)
            info["sendThreadPoolQueueHeadWaitTimeMills"] = str(max(gate.head_wait_ms(), lag))
        store_info = getattr(self.store, "runtime_info", None)
        if store_info is not None:
            info.update({k: str(v) for k, v in store_info().items()})
        return info


def _runtime(seconds: float) -> str:
    s = int(seconds)
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"[ {d} days, {h} hours, {m} minutes, {s % 60} seconds ]"


def _done() -> Deferred[None]:
    return succeed(None)
