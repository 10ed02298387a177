"""Ordered messages: a producer that keeps each order's steps on one queue, and an orderly
consumer that sees them in sequence (one batch at a time per queue, under a broker lock).

    python examples/orderly.py --namesrv 127.0.0.1:9876 --topic OrderDemo
"""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet import defer, task

from rmq.client import (
    ClientConfig,
    ConsumeContext,
    ConsumeFromWhere,
    ConsumeOrderlyStatus,
    Message,
    MessageExt,
    Producer,
    ProducerConfig,
    PushConsumer,
    PushConsumerConfig,
    select_by_hash,
)

STEPS = ("created", "paid", "shipped", "done")


async def main(reactor: Any, args: argparse.Namespace) -> None:
    config = ClientConfig(args.namesrv)
    producer = Producer(reactor, ProducerConfig("OrderProducers"), config)
    await producer.start()
    for step in STEPS:
        for order in range(3):
            msg = Message(args.topic, f"order-{order}:{step}".encode(), keys=f"order-{order}")
            await producer.send(msg, selector=select_by_hash, arg=order)
    await producer.shutdown()

    expected = len(STEPS) * 3
    seen: list[str] = []
    finished: defer.Deferred[None] = defer.Deferred()

    def on_messages(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeOrderlyStatus:
        for msg in msgs:
            seen.append(msg.body.decode())
            print(f"queue {ctx.message_queue.queue_id}: {msg.body.decode()}")
        if len(seen) >= expected and not finished.called:
            finished.callback(None)
        return ConsumeOrderlyStatus.SUCCESS

    cfg = PushConsumerConfig(
        "OrderConsumers", consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
    )
    consumer = PushConsumer(reactor, cfg, config)
    consumer.subscribe(args.topic, "*")
    consumer.register_orderly_listener(on_messages)
    await consumer.start()
    await finished
    await consumer.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", default="127.0.0.1:9876")
    parser.add_argument("--topic", default="OrderDemo")
    options = parser.parse_args()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, options)))
