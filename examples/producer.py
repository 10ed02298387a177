"""Send messages with rmq's producer: sync sends, ordered sends by key, a batch and oneway.

python examples/producer.py --namesrv 127.0.0.1:9876 --topic Demo --count 10
"""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet import defer, task

from rmq.client import ClientConfig, Message, Producer, ProducerConfig, select_by_hash


async def main(reactor: Any, args: argparse.Namespace) -> None:
    producer = Producer(reactor, ProducerConfig(args.group), ClientConfig(args.namesrv))
    await producer.start()
    try:
        for i in range(args.count):
            msg = Message(
                args.topic,
                f"hello {i}".encode(),
                tags="TagA",
                keys=f"key-{i}",
                properties={"source": "example"},
            )
            result = await producer.send(msg)
            print(f"sent {result.msg_id} to {result.message_queue} @ {result.queue_offset}")
        for order_id in (1, 2, 1):  # the same order id always lands on the same queue
            msg = Message(args.topic, f"order {order_id} step".encode(), tags="Order")
            r = await producer.send(msg, selector=select_by_hash, arg=order_id)
            print(f"order {order_id} -> queue {r.message_queue.queue_id}")
        batch = [Message(args.topic, f"batch {i}".encode(), tags="Batch") for i in range(3)]
        print("batch ids:", (await producer.send_batch(batch)).msg_id)
        await producer.send_oneway(Message(args.topic, b"fire and forget"))
    finally:
        await producer.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", default="127.0.0.1:9876")
    parser.add_argument("--group", default="ExampleProducerGroup")
    parser.add_argument("--topic", default="Demo")
    parser.add_argument("--count", type=int, default=10)
    options = parser.parse_args()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, options)))
