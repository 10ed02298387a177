"""``rmq-bench``: producer and consumer benchmarks in the manner of RocketMQ's benchmark tools.

``rmq-bench producer -t T -s 128 -w 16 -d 30`` keeps ``-w`` sends in flight for ``-d``
seconds; ``rmq-bench consumer -t T -w 4 -d 30`` pulls every read queue from its end. Both print
a header (topic, size, concurrency, duration, broker flush mode), one line a second, and a
closing summary with latency percentiles. The clock is the reactor's.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

import attrs
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.task import LoopingCall

from rmq.admin import dataplane as dp
from rmq.admin.api import AdminAPI
from rmq.admin.cli import default_namesrv, describe_error
from rmq.admin.session import Session
from rmq.client.model import MessageQueue, PullStatus
from rmq.common import message as m
from rmq.common.errors import MQClientError
from rmq.common.message import UniqueIdGenerator
from rmq.common.route import TopicRouteData

__all__ = ["ConsumerBench", "Meter", "ProducerBench", "main", "percentile", "run"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


@attrs.define
class Meter:
    """Counts for the current second and the whole run; latencies in milliseconds."""

    ok: int = 0
    failed: int = 0
    lat_sum: float = 0.0
    lat_max: float = 0.0
    total_ok: int = 0
    total_failed: int = 0
    latencies: list[float] = attrs.field(factory=list)

    def record(self, latency_ms: float) -> None:
        """One success with its latency."""
        self.ok += 1
        self.lat_sum += latency_ms
        if latency_ms > self.lat_max:
            self.lat_max = latency_ms
        self.latencies.append(latency_ms)

    def fail(self) -> None:
        """One failure."""
        self.failed += 1

    def tick(self) -> tuple[int, float, float, int]:
        """(count, average, max, failures) of the second just ended; starts the next one."""
        avg = self.lat_sum / self.ok if self.ok else 0.0
        out = (self.ok, avg, self.lat_max, self.failed)
        self.total_ok += self.ok
        self.total_failed += self.failed
        self.ok, self.failed, self.lat_sum, self.lat_max = 0, 0, 0.0, 0.0
        return out

    def summary(self, seconds: float, what: str) -> list[str]:
        """Closing lines: totals, mean rate and latency percentiles."""
        self.tick()
        lat = sorted(self.latencies)
        rate = self.total_ok / seconds if seconds > 0 else 0.0
        mean = sum(lat) / len(lat) if lat else 0.0
        pcts = "  ".join(f"p{p:g}={percentile(lat, p):.3f}" for p in PERCENTILES)
        return [
            f"=== {what} summary: {self.total_ok} ok, {self.total_failed} failed in "
            f"{seconds:.1f}s, {rate:.1f} msg/s",
            f"=== latency ms: mean={mean:.3f}  {pcts}  max={lat[-1] if lat else 0.0:.3f}",
        ]


class _Bench:
    """Shared run loop: per-second report line, stop at the deadline, summary."""

    what = "bench"

    def __init__(self, api: AdminAPI, reactor: Any, duration: float, out: IO[str]) -> None:
        self.api = api
        self.reactor = reactor
        self.duration = duration
        self.out = out
        self.meter = Meter()
        self.running = False
        self.started = 0.0

    def now_ms(self) -> float:
        return float(self.reactor.seconds() * 1000.0)

    def line(self, count: int, avg: float, peak: float, failed: int) -> str:
        raise NotImplementedError

    def _report(self) -> None:
        self.out.write(self.line(*self.meter.tick()) + "\n")
        self.out.flush()

    def _workers(self) -> list[Deferred[None]]:
        raise NotImplementedError

    def go(self) -> Deferred[Meter]:
        """Run for ``duration`` seconds; fires with the meter after the summary is printed."""
        self.running = True
        self.started = self.reactor.seconds()
        ticker = LoopingCall(self._report)
        ticker.clock = self.reactor
        ticker.start(1.0, now=False)
        stop = self.reactor.callLater(self.duration, self._stop)
        workers = self._workers()

        def finish(_: object) -> Meter:
            if stop.active():
                stop.cancel()
            if ticker.running:
                ticker.stop()
            elapsed = max(self.reactor.seconds() - self.started, 1e-9)
            for text in self.meter.summary(elapsed, self.what):
                self.out.write(text + "\n")
            return self.meter

        return DeferredList(workers).addCallback(finish)

    def _stop(self) -> None:
        self.running = False


class ProducerBench(_Bench):
    """``concurrency`` send loops over the topic's writable queues (round-robin)."""

    what = "producer"

    def __init__(
        self,
        api: AdminAPI,
        reactor: Any,
        route: TopicRouteData,
        topic: str,
        size: int,
        concurrency: int,
        duration: float,
        out: IO[str],
    ) -> None:
        super().__init__(api, reactor, duration, out)
        self.targets = [
            dp.Target(MessageQueue(topic, t.mq.broker_name, t.mq.queue_id), t.addr)
            for t in dp.queues(route, topic, write=True)
        ]
        if not self.targets:
            raise MQClientError(f"no writable queue for topic [{topic}]")
        self.body = b"x" * size
        self.concurrency = concurrency
        self.ids = UniqueIdGenerator(reactor.seconds)
        self._next = 0

    def line(self, count: int, avg: float, peak: float, failed: int) -> str:
        return (
            f"Send TPS: {count:7d} | Max RT(ms): {peak:8.3f} | Average RT(ms): {avg:8.3f} | "
            f"Send Failed: {failed}"
        )

    def _workers(self) -> list[Deferred[None]]:
        return [self._loop() for _ in range(self.concurrency)]

    def _loop(self) -> Deferred[None]:
        done: Deferred[None] = Deferred()

        def one(_: object = None) -> None:
            if not self.running:
                done.callback(None)
                return
            target = self.targets[self._next % len(self.targets)]
            self._next += 1
            props = {m.UNIQ_KEY: self.ids.next_id(), m.WAIT: "true"}
            began = self.now_ms()
            d = dp.send(self.api, target, self.body, props, int(began))

            def ok(_: object) -> None:
                self.meter.record(self.now_ms() - began)

            def bad(_: object) -> None:
                self.meter.fail()

            d.addCallbacks(ok, bad).addBoth(lambda _: self.reactor.callLater(0, one))

        one()
        return done


class ConsumerBench(_Bench):
    """Pull every read queue from its current end; latency is consume time minus born time."""

    what = "consumer"

    def __init__(
        self,
        api: AdminAPI,
        reactor: Any,
        route: TopicRouteData,
        topic: str,
        group: str,
        duration: float,
        out: IO[str],
        batch: int = 32,
    ) -> None:
        super().__init__(api, reactor, duration, out)
        self.targets = dp.queues(route, topic, write=False)
        if not self.targets:
            raise MQClientError(f"no readable queue for topic [{topic}]")
        self.group = group
        self.batch = batch

    def line(self, count: int, avg: float, peak: float, failed: int) -> str:
        return (
            f"Consume TPS: {count:7d} | AVG(B2C) RT(ms): {avg:8.3f} | "
            f"MAX(B2C) RT(ms): {peak:8.3f} | Pull Failed: {failed}"
        )

    def _workers(self) -> list[Deferred[None]]:
        return [self._loop(t) for t in self.targets]

    def _loop(self, target: dp.Target) -> Deferred[None]:
        done: Deferred[None] = Deferred()
        api = self.api
        state = {"offset": -1}

        def start(offset: int) -> None:
            state["offset"] = offset
            one()

        def one(_: object = None) -> None:
            if not self.running:
                done.callback(None)
                return
            d = dp.pull(api, target, self.group, state["offset"], self.batch, 0)
            d.addCallbacks(got, failed)

        def got(result: Any) -> None:
            now = self.now_ms()
            for msg in result.messages:
                self.meter.record(max(now - msg.born_timestamp, 0.0))
            if result.status is PullStatus.FOUND or result.next_begin_offset != state["offset"]:
                state["offset"] = result.next_begin_offset
                self.reactor.callLater(0, one)
            else:
                self.reactor.callLater(0.005, one)

        def failed(_: object) -> None:
            self.meter.fail()
            self.reactor.callLater(0.1, one)

        api.client.get_max_offset(target.addr, target.mq, api.timeout).addCallbacks(
            start, lambda f: done.errback(f)
        )
        return done


# --- command line ---------------------------------------------------------------------------


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """``producer`` and ``consumer`` sub-commands with the benchmark tools' letters."""
    parser = argparse.ArgumentParser(prog="rmq-bench", description=__doc__)
    subs = parser.add_subparsers(dest="role", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namesrvAddr", default=default_namesrv(environ))
    common.add_argument("-t", "--topic", default="BenchmarkTest")
    common.add_argument("-d", "--duration", type=float, default=30.0, help="seconds")
    common.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    prod = subs.add_parser("producer", parents=[common], help="send as fast as allowed")
    prod.add_argument("-s", "--messageSize", type=int, default=128)
    prod.add_argument("-w", "--threadCount", type=int, default=16, help="sends in flight")
    cons = subs.add_parser("consumer", parents=[common], help="pull from the queues' end")
    cons.add_argument("-g", "--group", default="benchmark_consumer")
    cons.add_argument("-b", "--batch", type=int, default=32, help="messages per pull")
    return parser


def _header(args: argparse.Namespace, flush: str) -> str:
    if args.role == "producer":
        shape = f"size={args.messageSize}B concurrency={args.threadCount}"
    else:
        shape = f"group={args.group} batch={args.batch}"
    return (
        f"rmq-bench {args.role}: topic={args.topic} {shape} duration={args.duration:g}s "
        f"flushDiskType={flush} namesrv={args.namesrvAddr}"
    )


async def _flush_mode(api: AdminAPI, route: TopicRouteData) -> str:
    for b in route.brokerDatas:
        addr = b.brokerAddrs.get(0)
        if addr is not None:
            try:
                props = await api.broker_config(addr)
            except Exception:
                return "unknown"
            return props.get("flushDiskType", "unknown")
    return "unknown"


async def _run(reactor: Any, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    session = Session(reactor, connect_timeout=args.timeout)
    addrs = [a.strip() for a in args.namesrvAddr.split(";") if a.strip()]
    status = 0
    try:
        api = AdminAPI(session.remoting, addrs, timeout=args.timeout)
        if args.role == "producer":
            route = await dp.send_route(api, args.topic)
        else:
            route = await api.topic_route(args.topic)
        out.write(_header(args, await _flush_mode(api, route)) + "\n")
        bench: _Bench
        if args.role == "producer":
            bench = ProducerBench(
                api,
                reactor,
                route,
                args.topic,
                args.messageSize,
                args.threadCount,
                args.duration,
                out,
            )
        else:
            bench = ConsumerBench(
                api, reactor, route, args.topic, args.group, args.duration, out, args.batch
            )
        await bench.go()
    except Exception:
        from twisted.python.failure import Failure

        message, status = describe_error(Failure())
        err.write(f"rmq-bench {args.role}: {message}\n")
    await session.close()
    return status


def run(
    reactor: Any,
    argv: Sequence[str],
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Deferred[int]:
    """Parse ``argv`` and run one benchmark on ``reactor``; fires with the exit status."""
    try:
        args = build_parser(environ).parse_args(list(argv))
    except SystemExit as exc:
        d: Deferred[int] = Deferred()
        d.callback(exc.code if isinstance(exc.code, int) else 2)
        return d
    return ensureDeferred(_run(reactor, args, out or sys.stdout, err or sys.stderr))


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``rmq-bench``)."""
    from twisted.internet import task

    args = sys.argv[1:] if argv is None else list(argv)
    react: Callable[..., Any] = task.react

    async def go(reactor: Any) -> None:
        status = await run(reactor, args)
        if status:
            raise SystemExit(status)

    react(lambda r: ensureDeferred(go(r)))
