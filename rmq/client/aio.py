"""Using the client from asyncio programs.

Run Twisted on asyncio's loop by installing ``AsyncioSelectorReactor`` **before anything
imports ``twisted.internet.reactor``**, then await rmq's Deferreds from coroutines::

    import asyncio
    from twisted.internet import asyncioreactor
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)          # so code outside a running loop finds it
    asyncioreactor.install(loop)          # first thing in the program
    from twisted.internet import reactor

    async def main() -> None:
        producer = Producer(reactor, ProducerConfig("G"), ClientConfig(namesrv_addr="..."))
        await aio.wait(producer.start())
        result = await aio.wait(producer.send(Message("T", b"hi")))

    reactor.callWhenRunning(lambda: aio.spawn(main()))  # or drive the loop yourself
    reactor.run()

Listeners may be ``async def`` functions that await asyncio things: wrap them with
:func:`listener`, which turns the coroutine into a Deferred Twisted can wait on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

T = TypeVar("T")


async def wait(d: Deferred[T]) -> T:
    """Await a Deferred from an asyncio coroutine (the reactor must be the asyncio reactor)."""
    return await d.asFuture(asyncio.get_running_loop())


def spawn(
    coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop | None = None
) -> Deferred[T]:
    """Run an asyncio coroutine as a task on ``loop`` (default: the running or current loop)."""
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop_policy().get_event_loop()
    return Deferred.fromFuture(asyncio.ensure_future(coro, loop=loop))


def listener(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Deferred[T]]:
    """Adapt an ``async def`` listener (which may await asyncio futures) for a consumer."""

    def call(*args: Any) -> Deferred[T]:
        return spawn(fn(*args))

    return call
