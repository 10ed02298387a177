"""rmq-bench: meter arithmetic, percentiles and a short live producer/consumer run."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import SynchronousTestCase

from rmq.admin import bench
from rmq.admin.bench import Meter, percentile
from tests.admin.live import CLUSTER, LiveCase


class PercentileTest(SynchronousTestCase):
    def test_nearest_rank(self) -> None:
        """p50 of 1..100 is 50, p99 is 99, p100 the max; empty gives 0."""
        values = [float(v) for v in range(1, 101)]
        self.assertEqual(percentile(values, 50), 50.0)
        self.assertEqual(percentile(values, 99), 99.0)
        self.assertEqual(percentile(values, 100), 100.0)
        self.assertEqual(percentile([], 50), 0.0)

    def test_small_sample(self) -> None:
        """With one value every percentile is that value."""
        self.assertEqual(percentile([7.0], 99.9), 7.0)


class MeterTest(SynchronousTestCase):
    def test_tick_reports_the_second_and_resets(self) -> None:
        """tick gives (count, avg, max, failures) then starts from zero."""
        meter = Meter()
        meter.record(1.0)
        meter.record(3.0)
        meter.fail()
        self.assertEqual(meter.tick(), (2, 2.0, 3.0, 1))
        self.assertEqual(meter.tick(), (0, 0.0, 0.0, 0))
        self.assertEqual((meter.total_ok, meter.total_failed), (2, 1))

    def test_summary_has_rate_and_percentiles(self) -> None:
        """The summary counts everything and prints p50..p99.9."""
        meter = Meter()
        for v in range(1, 11):
            meter.record(float(v))
        first, second = meter.summary(2.0, "producer")
        self.assertIn("10 ok, 0 failed in 2.0s, 5.0 msg/s", first)
        self.assertIn("p50=5.000", second)
        self.assertIn("max=10.000", second)


class LiveBenchTest(LiveCase):
    @defer.inlineCallbacks
    def until(self, done: Callable[[], bool], seconds: float, why: str) -> Any:
        """Poll ``done`` every 50 ms; fail the test with ``why`` after ``seconds``."""
        deadline = reactor.seconds() + seconds
        while not done():
            if reactor.seconds() > deadline:
                self.fail(why)
            yield task.deferLater(reactor, 0.05, lambda: None)

    def watch_consumer(self) -> list[Any]:
        """Make ``bench.run`` build consumers that can be watched and stopped by the test.

        Each one counts the queues whose start offset (the queue end) it has fetched, so
        the producer starts only once nothing it sends can fall before the consumer's start.
        """
        made: list[Any] = []

        class Watched(bench.ConsumerBench):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.positioned = 0
                made.append(self)
                fetch = self.api.client.get_max_offset

                def counted(*a: Any, **kw: Any) -> Any:
                    return fetch(*a, **kw).addCallback(self._count)

                self.api.client.get_max_offset = counted  # type: ignore[method-assign]

            def _count(self, offset: int) -> int:
                self.positioned += 1
                return offset

        self.patch(bench, "ConsumerBench", Watched)
        return made

    @defer.inlineCallbacks
    def test_producer_and_consumer(self) -> Any:
        """A 1.5 s producer run is all seen by a consumer started first, with born-time latency."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "BenchT", "-r", "2", "-w", "2")
        made = self.watch_consumer()
        c_out, c_err = io.StringIO(), io.StringIO()
        # The consumer's duration is only a ceiling: the test stops it once it has drained.
        consumer = bench.run(
            reactor, ["consumer", "-n", self.namesrv, "-t", "BenchT", "-d", "40"], c_out, c_err
        )
        yield self.until(
            lambda: bool(made) and made[0].positioned == len(made[0].targets),
            20,
            f"consumer never found its start offsets: {c_err.getvalue()}",
        )
        watched = made[0]
        p_out, p_err = io.StringIO(), io.StringIO()
        status = yield bench.run(
            reactor,
            ["producer", "-n", self.namesrv, "-t", "BenchT", "-d", "1.5", "-w", "4", "-s", "64"],
            p_out,
            p_err,
        )
        self.assertEqual((status, p_err.getvalue()), (0, ""))
        lines = p_out.getvalue().splitlines()
        self.assertIn("topic=BenchT size=64B concurrency=4 duration=1.5s", lines[0])
        self.assertIn("flushDiskType=ASYNC_FLUSH", lines[0])
        self.assertTrue(lines[1].startswith("Send TPS:"))
        sent = int(lines[-2].split("summary: ")[1].split(" ok")[0])
        self.assertGreater(sent, 0)
        yield self.until(
            lambda: watched.meter.total_ok + watched.meter.ok >= sent,
            20,
            f"consumer drained only {watched.meter.total_ok + watched.meter.ok} of {sent}",
        )
        watched.running = False
        status = yield consumer
        self.assertEqual((status, c_err.getvalue()), (0, ""))
        c_lines = c_out.getvalue().splitlines()
        self.assertTrue(c_lines[1].startswith("Consume TPS:"))
        consumed = int(c_lines[-2].split("summary: ")[1].split(" ok")[0])
        self.assertEqual(consumed, sent)

    @defer.inlineCallbacks
    def test_unknown_topic_consumer_fails(self) -> Any:
        """The consumer of a topic with no route exits 1 with code 17 on stderr."""
        out, err = io.StringIO(), io.StringIO()
        status = yield bench.run(
            reactor, ["consumer", "-n", self.namesrv, "-t", "NoSuch", "-d", "1"], out, err
        )
        self.assertEqual(status, 1)
        self.assertIn("CODE: 17", err.getvalue())
