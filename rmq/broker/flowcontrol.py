"""Broker-side flow control for sends (§1.8): reject what waited too long instead of piling up.

RocketMQ queues sends in front of a small thread pool and answers SYSTEM_BUSY with
``[TIMEOUT_CLEAN_QUEUE]`` to requests that waited longer than ``waitTimeMillsInSendQueue``
(200 ms), or ``[OVERLOAD]`` when the queue is full (``sendThreadPoolQueueCapacity``, 10000).
Here the "pool" is a bound on sends whose store put has not completed yet: beyond it requests
wait in a FIFO; when one leaves the queue after its deadline, or sits at the head past it, it is
answered SYSTEM_BUSY at once. One timer (the head's deadline) replaces Java's 10 ms sweep.
Given the broker's config, the gate reads both limits live, so UPDATE_BROKER_CONFIG applies them.

Under ASYNC_FLUSH a send completes inside its handler call, so that FIFO never fills: the real
queue is the reactor's backlog (bytes sitting in socket buffers while the reactor is busy).
:class:`LagProbe` measures it: a 10 ms tick on the broker's clock records how late it ran.
While the last tick was at least ``waitTimeMillsInSendQueue`` late, every send that reaches
the gate was read after waiting about that long, so it is answered SYSTEM_BUSY
``[TIMEOUT_CLEAN_QUEUE]`` at once (cheap, so the backlog drains fast and producers retry
elsewhere instead of timing out). The first on-time tick ends it. ``brokerFastFailureEnable``
(when the config has it) turns this off. The send path pays one attribute read per request.

``[PC_SYNCHRONIZED]`` (commit-log put lock held over ``osPageCacheBusyTimeOutMills``) has no
separate probe: puts run on the reactor thread, so no send can run while one is in progress; a
slow put shows up here as reactor lag instead.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.common.errors import SystemBusy
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher, Handler

if TYPE_CHECKING:
    from rmq.broker.config import BrokerConfig
    from rmq.broker.controller import BrokerController
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["PROBE_INTERVAL", "SEND_CODES", "LagProbe", "RequestGate", "register"]

SEND_CODES = (
    RequestCode.SEND_MESSAGE,
    RequestCode.SEND_MESSAGE_V2,
    RequestCode.SEND_BATCH_MESSAGE,
    RequestCode.CONSUMER_SEND_MSG_BACK,
)
DEFAULT_MAX_IN_FLIGHT = 1024
PROBE_INTERVAL = 0.01
"""Seconds between lag probe ticks (RocketMQ sweeps its send queue every 10 ms)."""

_log = Logger()


class LagProbe:
    """How late the reactor runs a periodic tick; ``lagging`` while that reaches the send wait.

    ``lag_ms`` is the last tick's delay beyond ``interval``. ``lagging`` is recomputed on each
    tick (reading ``waitTimeMillsInSendQueue`` live from ``config``) so readers pay nothing.
    """

    def __init__(self, clock: Any, config: BrokerConfig | None = None, wait_ms: int = 200) -> None:
        self.clock = clock
        self.interval = PROBE_INTERVAL
        self._config = config
        self._wait_ms = wait_ms
        self.lag_ms = 0
        self.lagging = False
        self._last: float | None = None

    def start(self) -> LoopingCall:
        """Start ticking on the clock; the caller stops the returned loop."""
        self._last = None
        self.lag_ms = 0
        self.lagging = False
        loop = LoopingCall(self.tick)
        loop.clock = self.clock
        loop.start(self.interval, now=True).addErrback(self._died)
        return loop

    def _died(self, failure: Failure) -> None:
        """A probe that stopped must not leave sends refused."""
        self.lagging = False
        _log.failure("reactor-lag probe stopped", failure)

    def tick(self) -> None:
        """Record how late this tick ran relative to the previous one plus the interval."""
        now = self.clock.seconds()
        last, self._last = self._last, now
        lag = 0 if last is None else int((now - last - self.interval) * 1000)
        self.lag_ms = max(lag, 0)
        config = self._config
        if config is None:
            self.lagging = self.lag_ms >= self._wait_ms
        elif config.broker_fast_failure_enable:
            self.lagging = self.lag_ms >= config.wait_time_mills_in_send_queue
        else:
            self.lagging = False


class RequestGate:
    """At most ``max_in_flight`` handler calls unfinished; the rest wait up to ``wait_ms``.

    With ``config``, ``waitTimeMillsInSendQueue`` and ``sendThreadPoolQueueCapacity`` are read
    from it on every use instead of ``wait_ms`` and ``capacity``.
    """

    def __init__(
        self,
        clock: Any,
        max_in_flight: int,
        capacity: int,
        wait_ms: int,
        name: str = "send",
        config: BrokerConfig | None = None,
        probe: LagProbe | None = None,
    ) -> None:
        self.clock = clock
        self.probe = probe
        self.max_in_flight = max(1, max_in_flight)
        self._capacity = capacity
        self._wait_ms = wait_ms
        self._config = config
        self.name = name
        self.in_flight = 0
        self.rejected = 0
        self._queue: deque[tuple[float, Handler, Any, RemotingCommand, Deferred[Any]]] = deque()
        self._timer: IDelayedCall | None = None

    @property
    def wait(self) -> float:
        """Seconds a queued request may wait (live from the config when given)."""
        if self._config is not None:
            return self._config.wait_time_mills_in_send_queue / 1000.0
        return self._wait_ms / 1000.0

    @property
    def capacity(self) -> int:
        """Requests that may wait in the queue (live from the config when given)."""
        if self._config is not None:
            return self._config.send_thread_pool_queue_capacity
        return self._capacity

    @property
    def queue_size(self) -> int:
        return len(self._queue)

    def head_wait_ms(self) -> int:
        """How long the oldest queued request has waited (runtime info)."""
        if not self._queue:
            return 0
        return int((self.clock.seconds() - self._queue[0][0]) * 1000)

    def wrap(self, handler: Handler) -> Handler:
        """A handler that passes through this gate."""

        def gated(ctx: RemotingConnection, request: RemotingCommand) -> Any:
            return self.submit(handler, ctx, request)

        return gated

    def submit(self, handler: Handler, ctx: Any, request: RemotingCommand) -> Any:
        probe = self.probe
        if probe is not None and probe.lagging:
            self.rejected += 1
            raise SystemBusy(
                f"[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in "
                f"queue: {probe.lag_ms}ms, size of queue: {len(self._queue)}"
            )
        if self.in_flight < self.max_in_flight and not self._queue:
            return self._run(handler, ctx, request)
        if len(self._queue) >= self.capacity:
            self.rejected += 1
            raise SystemBusy(
                f"[OVERLOAD]system busy, start flow control for a while, size of queue: "
                f"{len(self._queue)}"
            )
        d: Deferred[Any] = Deferred()
        self._queue.append((self.clock.seconds(), handler, ctx, request, d))
        self._arm()
        return d

    def _run(self, handler: Handler, ctx: Any, request: RemotingCommand) -> Any:
        self.in_flight += 1
        try:
            result = handler(ctx, request)
        except BaseException:
            self._finished()
            raise
        if isinstance(result, Deferred):
            return result.addBoth(self._finished_passing)
        self._finished()
        return result

    def _finished_passing(self, result: Any) -> Any:
        self._finished()
        return result

    def _finished(self) -> None:
        self.in_flight -= 1
        self._drain()

    def _busy(self, enqueued: float, d: Deferred[Any]) -> None:
        self.rejected += 1
        waited = int((self.clock.seconds() - enqueued) * 1000)
        d.errback(
            SystemBusy(
                f"[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in "
                f"queue: {waited}ms, size of queue: {len(self._queue)}"
            )
        )

    @property
    def _shedding(self) -> bool:
        """False with brokerFastFailureEnable off: queued sends then wait, as in RocketMQ."""
        config = self._config
        return config is None or config.broker_fast_failure_enable

    def _expire(self) -> None:
        """Answer SYSTEM_BUSY to every queued request past its deadline (the head first)."""
        if not self._shedding:
            return
        now = self.clock.seconds()
        while self._queue and now - self._queue[0][0] >= self.wait:
            enqueued, _, _, _, d = self._queue.popleft()
            self._busy(enqueued, d)

    def _drain(self) -> None:
        self._expire()
        while self._queue and self.in_flight < self.max_in_flight:
            _, handler, ctx, request, d = self._queue.popleft()
            maybeDeferred(self._run, handler, ctx, request).chainDeferred(d)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._queue and self._shedding:
            delay = self._queue[0][0] + self.wait - self.clock.seconds()
            self._timer = self.clock.callLater(max(delay, 0.0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._expire()
        self._arm()


def register(dispatcher: Dispatcher, broker: BrokerController) -> None:
    """Put the send codes behind one gate (run after the send processors registered).

    The gate's lag probe is ``broker.lag_probe``; the controller starts it with its timers.
    """
    config = broker.config
    probe = LagProbe(broker.clock, config)
    broker.lag_probe = probe
    gate = RequestGate(
        broker.clock,
        DEFAULT_MAX_IN_FLIGHT,
        config.send_thread_pool_queue_capacity,
        config.wait_time_mills_in_send_queue,
        config=config,
        probe=probe,
    )
    broker.send_gate = gate
    for code in SEND_CODES:
        handler = dispatcher.handler_for(int(code))
        if handler is not None:
            dispatcher.register(code, gate.wrap(handler))
