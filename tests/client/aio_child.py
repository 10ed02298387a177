"""Child process for test_aio: the client on Twisted's asyncio reactor, awaited from asyncio.

Uses the in-memory cluster (no sockets). Prints one JSON line with what happened.
"""

from __future__ import annotations

import asyncio
import json
import sys

from twisted.internet import asyncioreactor

LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)
asyncioreactor.install(LOOP)

from twisted.internet import reactor  # noqa: E402

from rmq.client import aio  # noqa: E402
from rmq.client.consumer.push import PushConsumer, PushConsumerConfig  # noqa: E402
from rmq.client.model import ConsumeFromWhere, ConsumeStatus, Message  # noqa: E402
from rmq.client.producer import Producer, ProducerConfig  # noqa: E402
from tests.client.fakes import FakeCluster  # noqa: E402
from tests.client.helpers import make_instance  # noqa: E402


async def main() -> dict[str, object]:
    cluster = FakeCluster(reactor)  # type: ignore[arg-type]
    cluster.ensure_topic("T")
    inst, _ = make_instance(reactor, cluster, "aio-p")  # type: ignore[arg-type]
    producer = Producer(reactor, ProducerConfig("PG"), inst)
    await aio.wait(producer.start())
    ids = [(await aio.wait(producer.send(Message("T", f"{i}".encode())))).msg_id for i in range(5)]
    got: list[str] = []
    done = asyncio.Event()

    @aio.listener
    async def on_msgs(msgs: list, ctx: object) -> ConsumeStatus:  # type: ignore[type-arg]
        await asyncio.sleep(0.001)  # a real asyncio await inside the listener
        got.extend(m.msg_id for m in msgs)
        if len(got) >= 5:
            done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    cinst, _ = make_instance(reactor, cluster, "aio-c")  # type: ignore[arg-type]
    cfg = PushConsumerConfig("CG", consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET)
    consumer = PushConsumer(reactor, cfg, cinst)
    consumer.subscribe("T", "*")
    consumer.register_listener(on_msgs)
    await aio.wait(consumer.start())
    await asyncio.wait_for(done.wait(), 10)
    await aio.wait(consumer.shutdown())
    await aio.wait(producer.shutdown())
    return {
        "reactor": type(reactor).__name__,
        "same_ids": sorted(ids) == sorted(got),
        "loop_running": asyncio.get_running_loop().is_running(),
    }


def run() -> None:
    result: dict[str, object] = {}

    def go() -> None:
        d = aio.spawn(main())
        d.addCallback(result.update)
        d.addErrback(lambda f: result.update(error=f.getTraceback()))
        d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined]

    reactor.callWhenRunning(go)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    run()
