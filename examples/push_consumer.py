"""Consume with a push consumer (clustering, concurrent listener) until Ctrl-C.

    python examples/push_consumer.py --namesrv 127.0.0.1:9876 --topic Demo --expression "TagA"

A listener returns CONSUME_SUCCESS, or RECONSUME_LATER to have the broker redeliver the message
later through the group's %RETRY% topic; it may also return a Deferred of either.
"""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet import defer, task

from rmq.client import (
    ClientConfig,
    ConsumeContext,
    ConsumeStatus,
    MessageExt,
    PushConsumer,
    PushConsumerConfig,
)


def on_messages(msgs: list[MessageExt], ctx: ConsumeContext) -> ConsumeStatus:
    for msg in msgs:
        print(
            f"{ctx.message_queue.queue_id}:{msg.queue_offset} {msg.msg_id} "
            f"tags={msg.tags} body={msg.body[:60]!r} retries={msg.reconsume_times}"
        )
    return ConsumeStatus.CONSUME_SUCCESS


async def main(reactor: Any, args: argparse.Namespace) -> None:
    consumer = PushConsumer(reactor, PushConsumerConfig(args.group), ClientConfig(args.namesrv))
    consumer.subscribe(args.topic, args.expression)
    consumer.register_listener(on_messages)
    await consumer.start()
    stop: defer.Deferred[None] = defer.Deferred()
    reactor.addSystemEventTrigger("before", "shutdown", consumer.shutdown)
    await stop  # runs until the process is interrupted


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", default="127.0.0.1:9876")
    parser.add_argument("--group", default="ExampleConsumerGroup")
    parser.add_argument("--topic", default="Demo")
    parser.add_argument("--expression", default="*")
    options = parser.parse_args()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, options)))
