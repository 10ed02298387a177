"""rmq-bench: meter arithmetic, percentiles and a short live producer/consumer run."""

from __future__ import annotations

import io
from typing import Any

from twisted.internet import defer, reactor
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
    def test_producer_and_consumer(self) -> Any:
        """A 1.5 s producer run is seen by a concurrent consumer with born-time latency."""
        yield self.admin_json("updateTopic", "-c", CLUSTER, "-t", "BenchT", "-r", "2", "-w", "2")
        c_out, c_err = io.StringIO(), io.StringIO()
        consumer = bench.run(
            reactor, ["consumer", "-n", self.namesrv, "-t", "BenchT", "-d", "2.5"], c_out, c_err
        )
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
