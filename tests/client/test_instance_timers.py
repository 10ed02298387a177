"""MQClientInstance's periodic rebalance: it runs every 20 s without being asked."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from zope.interface import implementer

from rmq.client.interfaces import IConsumerInner
from rmq.client.model import MessageQueue
from rmq.common.message import MessageExt
from rmq.common.route import TopicRouteData
from tests.client.helpers import make_instance, pump
from tests.client.test_push import PushHarness, owned


@implementer(IConsumerInner)
class CountingConsumer:
    """A registered consumer that only counts its rebalance calls."""

    group = "CG"

    def __init__(self) -> None:
        self.rebalances: list[float] = []
        self.clock: Clock | None = None

    def consumer_data(self) -> dict[str, Any]:
        return {"groupName": self.group, "subscriptionDataSet": []}

    def subscribed_topics(self) -> list[str]:
        return []

    def update_route(self, topic: str, route: TopicRouteData) -> None:
        pass

    def do_rebalance(self) -> Deferred[None]:
        assert self.clock is not None
        self.rebalances.append(self.clock.seconds())
        return succeed(None)

    def persist_offsets(self) -> Deferred[None]:
        return succeed(None)

    def reset_offset(self, topic: str, offsets: dict[MessageQueue, int]) -> None:
        pass

    def offsets_of(self, topic: str) -> dict[MessageQueue, int]:
        return {}

    def running_info(self) -> dict[Any, Any]:
        return {}

    def consume_directly(
        self, msg: MessageExt, broker_name: str | None
    ) -> Deferred[dict[str, Any]]:
        return succeed({})


class RebalanceTimerTests(PushHarness):
    def test_rebalance_every_20s(self) -> None:
        """With nothing else happening, every consumer is rebalanced at 20 s, 40 s, 60 s."""
        inst, _ = make_instance(self.clock, self.cluster, "timer")
        stub = CountingConsumer()
        stub.clock = self.clock
        inst.register_consumer(stub)
        t0 = self.clock.seconds()
        self.successResultOf(inst.start())
        self.clock.advance(19.9)
        self.assertEqual(stub.rebalances, [])
        for _ in range(3):
            self.clock.advance(0.1)
            self.clock.advance(19.9)
        self.assertEqual([round(t - t0) for t in stub.rebalances], [20, 40, 60])

    def test_timer_repairs_missed_membership_change(self) -> None:
        """A member that missed NOTIFY_CONSUMER_IDS_CHANGED gives up queues at the next tick."""
        a = self.consumer("a")
        self.start(a)
        self.assertEqual(len(owned(a)), 4)
        self.cluster.brokers["broker-a"].notify = lambda group: None  # type: ignore[method-assign]
        b = self.consumer("b")
        self.start(b)
        pump(self.clock, 15)  # a started 15.1 s ago: its timer has not fired yet
        self.assertEqual(len(owned(a)), 4, "nothing told a about b yet")
        self.assertEqual(len(owned(b)), 2)
        pump(self.clock, 5)
        self.assertEqual(len(owned(a)), 2)
        self.assertEqual(owned(a) & owned(b), set())
