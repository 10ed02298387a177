"""Long polling: hold pulls that found nothing until data arrives or their time is up.

A parked pull waits under its (topic, queue). With ``longPollingEnable`` the store's arrival
listener runs in the same reactor turn as the put that appended the message, so a matching held
pull is re-run and answered before the producer's send response is even written; without it
(short polling) arrivals are ignored and the pull waits out its shortPollingTimeMills. Each
parked pull also has a timer for its suspend deadline. A re-run never suspends again and answers
with the original opaque. Pulls on a connection that closed are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from rmq.common.errors import RMQError
from rmq.common.message import decode_properties
from rmq.remoting.codes import ResponseCode
from rmq.remoting.command import RemotingCommand

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController
    from rmq.filter.message_filter import ExpressionMessageFilter
    from rmq.remoting.protocol import RemotingConnection

__all__ = ["HeldPull", "PullHoldService"]

_log = Logger()


class HeldPull:
    """One parked pull request."""

    __slots__ = ("ctx", "filter", "key", "offset", "request", "timer")

    def __init__(
        self,
        ctx: RemotingConnection,
        request: RemotingCommand,
        key: tuple[str, int],
        offset: int,
        message_filter: ExpressionMessageFilter,
    ) -> None:
        self.ctx = ctx
        self.request = request
        self.key = key
        self.offset = offset
        self.filter = message_filter
        self.timer: IDelayedCall | None = None


class PullHoldService:
    """Parks pulls per queue and wakes them on arrival or deadline."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        self.clock = broker.clock
        self.processor: Any = None
        """Set by the pull processor's ``register``: has ``process(ctx, request, False)``."""
        self.held: dict[tuple[str, int], list[HeldPull]] = {}
        self._listening = False

    @property
    def count(self) -> int:
        """Number of pulls currently held."""
        return sum(len(v) for v in self.held.values())

    def start(self) -> None:
        """Listen to the store's arrivals."""
        if not self._listening:
            self.broker.store.add_arrival_listener(self.on_arrival)
            self._listening = True

    def stop(self) -> None:
        """Drop every held pull without answering (the broker is going down)."""
        for pulls in self.held.values():
            for p in pulls:
                if p.timer is not None and p.timer.active():
                    p.timer.cancel()
        self.held.clear()

    def suspend(
        self,
        ctx: RemotingConnection,
        request: RemotingCommand,
        topic: str,
        queue_id: int,
        offset: int,
        message_filter: ExpressionMessageFilter,
        timeout: float,
    ) -> None:
        """Park a pull for at most ``timeout`` seconds."""
        key = (topic, queue_id)
        held = HeldPull(ctx, request, key, offset, message_filter)
        held.timer = self.clock.callLater(max(timeout, 0.0), self._expired, held)
        self.held.setdefault(key, []).append(held)

    def on_arrival(
        self,
        topic: str,
        queue_id: int,
        max_offset: int,
        tags_code: int | None,
        store_timestamp: int,
        properties: Mapping[str, str] | str | None,
    ) -> None:
        """Store listener: re-run every held pull of the queue the new message matches.

        Only with ``longPollingEnable``: short-polled pulls just wait out shortPollingTimeMills,
        as RocketMQ notifies arrivals only when long polling is on (read live, so a runtime
        config change applies at once).
        """
        pulls = self.held.get((topic, queue_id))
        if not pulls or not self.broker.config.long_polling_enable:
            return
        if isinstance(properties, str):
            properties = decode_properties(properties)
        keep: list[HeldPull] = []
        wake: list[HeldPull] = []
        for p in pulls:
            if (
                max_offset > p.offset
                and p.filter.is_matched_by_consume_queue(tags_code)
                and (properties is None or p.filter.is_matched_by_commit_log(None, properties))
            ):
                wake.append(p)
            else:
                keep.append(p)
        if keep:
            self.held[(topic, queue_id)] = keep
        else:
            del self.held[(topic, queue_id)]
        for p in wake:
            if p.timer is not None and p.timer.active():
                p.timer.cancel()
            self._rerun(p)

    def _expired(self, held: HeldPull) -> None:
        held.timer = None
        pulls = self.held.get(held.key)
        if pulls is None or held not in pulls:
            return
        pulls.remove(held)
        if not pulls:
            del self.held[held.key]
        self._rerun(held)

    def connection_lost(self, conn: Any) -> None:
        """Drop the held pulls of a closed connection."""
        for key in list(self.held):
            pulls = self.held[key]
            gone = [p for p in pulls if p.ctx is conn]
            if not gone:
                continue
            for p in gone:
                if p.timer is not None and p.timer.active():
                    p.timer.cancel()
            rest = [p for p in pulls if p.ctx is not conn]
            if rest:
                self.held[key] = rest
            else:
                del self.held[key]

    def _rerun(self, held: HeldPull) -> None:
        """Run the pull again without suspending and write its answer (same opaque)."""
        ctx = held.ctx
        if not getattr(ctx, "connected", True):
            return
        request = held.request
        try:
            response = self.processor.process(ctx, request, False)
        except RMQError as e:
            response = request.make_response(e.code, e.remark)
        except Exception as e:
            _log.failure("long-poll re-run failed")
            response = request.make_response(ResponseCode.SYSTEM_ERROR, f"{type(e).__name__}: {e}")
        if response is not None:
            ctx.send_response(response)
