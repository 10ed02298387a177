"""rmq's client inside an asyncio program: Twisted runs on asyncio's loop.

    python examples/asyncio_app.py --namesrv 127.0.0.1:9876 --topic AioDemo --count 5

Prints one JSON line with the ids sent and received.
"""

from __future__ import annotations

import asyncio

from twisted.internet import asyncioreactor

# Install the asyncio reactor before anything imports twisted.internet.reactor.
LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)
asyncioreactor.install(LOOP)

import argparse  # noqa: E402
import json  # noqa: E402

from twisted.internet import reactor  # noqa: E402

from rmq.client import (  # noqa: E402
    ClientConfig,
    ConsumeFromWhere,
    ConsumeStatus,
    Message,
    Producer,
    ProducerConfig,
    PushConsumer,
    PushConsumerConfig,
    aio,
)


async def main(args: argparse.Namespace) -> dict[str, object]:
    config = ClientConfig(args.namesrv)
    producer = Producer(reactor, ProducerConfig("AioProducers"), config)
    await aio.wait(producer.start())
    sent = []
    for i in range(args.count):
        result = await aio.wait(producer.send(Message(args.topic, f"aio {i}".encode())))
        sent.append(result.msg_id)

    received: list[str] = []
    done = asyncio.Event()

    @aio.listener
    async def on_messages(msgs: list, ctx: object) -> ConsumeStatus:  # type: ignore[type-arg]
        await asyncio.sleep(0)  # any asyncio work may happen here
        received.extend(m.msg_id for m in msgs)
        if len(received) >= args.count:
            done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    cfg = PushConsumerConfig(
        "AioConsumers", consume_from_where=ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET
    )
    consumer = PushConsumer(reactor, cfg, config)
    consumer.subscribe(args.topic, "*")
    consumer.register_listener(on_messages)
    await aio.wait(consumer.start())
    await asyncio.wait_for(done.wait(), args.timeout)
    await aio.wait(consumer.shutdown())
    await aio.wait(producer.shutdown())
    return {"reactor": type(reactor).__name__, "sent": sent, "received": received}


def run(args: argparse.Namespace) -> None:
    out: dict[str, object] = {}

    def go() -> None:
        d = aio.spawn(main(args))
        d.addCallback(out.update)
        d.addErrback(lambda f: out.update(error=f.getErrorMessage()))
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(go)
    reactor.run()
    print(json.dumps(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", default="127.0.0.1:9876")
    parser.add_argument("--topic", default="AioDemo")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=40.0)
    run(parser.parse_args())
