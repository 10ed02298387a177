"""Shared test helpers: a clock-driven client instance wired to a FakeCluster."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from rmq.client.config import ClientConfig
from rmq.client.instance import MQClientInstance
from tests.client.fakes import NAMESRV, FakeCluster, FakeRemoting


def make_instance(
    clock: Clock, cluster: FakeCluster, name: str = "test", **cfg: Any
) -> tuple[MQClientInstance, FakeRemoting]:
    """A client instance whose remoting is the fake cluster (broker requests dispatched)."""
    remoting = cluster.remoting()
    inst = MQClientInstance(
        clock, ClientConfig(namesrv_addr=NAMESRV, instance_name=name, **cfg), remoting=remoting
    )
    remoting.dispatcher = inst.dispatcher
    return inst, remoting


def pump(clock: Clock, seconds: float = 0.0, step: float = 0.01) -> None:
    """Advance the clock in small steps so chained callLater(0) work runs."""
    clock.advance(0)
    t = 0.0
    while t < seconds:
        clock.advance(step)
        t += step
    clock.advance(0)
