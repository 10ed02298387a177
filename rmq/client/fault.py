"""Latency-based fault avoidance for sends (Java MQFaultStrategy).

A send that took long, or failed, makes its broker "not available" for a while; queue selection
skips such brokers while any other is available.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from rmq.client.model import MessageQueue

# (latency ms at or above which, not-available duration ms), Java's defaults.
LATENCY_MAX = (50, 100, 550, 1000, 2000, 3000, 15000)
NOT_AVAILABLE_DURATION = (0, 0, 30000, 60000, 120000, 180000, 600000)
ISOLATION_LATENCY_MS = 30000


def not_available_ms(latency_ms: float) -> int:
    """How long a broker is avoided after a send with this latency."""
    pairs = zip(LATENCY_MAX, NOT_AVAILABLE_DURATION, strict=True)
    for limit, duration in reversed(list(pairs)):
        if latency_ms >= limit:
            return duration
    return 0


class FaultStrategy:
    """Round-robin queue choice that avoids slow/failed brokers and, on retry, the last one."""

    def __init__(self, clock: Callable[[], float], enabled: bool = True) -> None:
        self._clock = clock
        self.enabled = enabled
        self._until: dict[str, float] = {}
        self._index = random.randrange(1 << 16)

    def update(self, broker_name: str, latency_ms: float, isolation: bool) -> None:
        """Record one send's latency (``isolation``: it failed)."""
        if not self.enabled:
            return
        duration = not_available_ms(ISOLATION_LATENCY_MS if isolation else latency_ms)
        self._until[broker_name] = self._clock() + duration / 1000.0

    def available(self, broker_name: str) -> bool:
        until = self._until.get(broker_name)
        return until is None or self._clock() >= until

    def select(self, queues: Sequence[MessageQueue], last_broker: str | None) -> MessageQueue:
        """Pick the next queue: available and not ``last_broker`` first, then any."""
        n = len(queues)
        start = self._index
        self._index += 1
        for k in range(n):
            mq = queues[(start + k) % n]
            if mq.broker_name != last_broker and self.available(mq.broker_name):
                return mq
        for k in range(n):
            mq = queues[(start + k) % n]
            if mq.broker_name != last_broker:
                return mq
        return queues[start % n]
