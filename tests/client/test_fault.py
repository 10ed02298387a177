"""Latency fault avoidance: durations by latency, and selection around unavailable brokers."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.client.fault import FaultStrategy, not_available_ms
from rmq.client.model import MessageQueue

QUEUES = [MessageQueue("T", b, q) for b in ("a", "b") for q in range(2)]


class FaultTests(SynchronousTestCase):
    def test_durations(self) -> None:
        """Java's table: under 550 ms nothing, 550 ms -> 30 s, 15 s or more -> 600 s."""
        self.assertEqual(
            [not_available_ms(x) for x in (0, 100, 549, 550, 1000, 2000, 3000, 15000, 30000)],
            [0, 0, 0, 30000, 60000, 120000, 180000, 600000, 600000],
        )

    def test_avoids_isolated_broker_until_expiry(self) -> None:
        """A failed broker is skipped for 600 s, then chosen again."""
        clock = Clock()
        fs = FaultStrategy(clock.seconds)
        fs.update("a", 10, isolation=True)
        self.assertEqual({fs.select(QUEUES, None).broker_name for _ in range(8)}, {"b"})
        clock.advance(600)
        self.assertEqual({fs.select(QUEUES, None).broker_name for _ in range(8)}, {"a", "b"})

    def test_all_unavailable_still_selects(self) -> None:
        """With every broker avoided a queue is still returned (not the last broker if possible)."""
        fs = FaultStrategy(Clock().seconds)
        fs.update("a", 0, isolation=True)
        fs.update("b", 0, isolation=True)
        self.assertEqual(fs.select(QUEUES, "a").broker_name, "b")

    def test_disabled(self) -> None:
        """When disabled, latencies are ignored."""
        fs = FaultStrategy(Clock().seconds, enabled=False)
        fs.update("a", 0, isolation=True)
        self.assertTrue(fs.available("a"))
