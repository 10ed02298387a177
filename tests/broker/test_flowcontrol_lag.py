"""Send fast-failure under ASYNC_FLUSH: reactor lag beyond waitTimeMillsInSendQueue sheds sends."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.config import BrokerConfig
from rmq.broker.controller import BrokerController
from rmq.broker.flowcontrol import LagProbe, RequestGate
from rmq.common import fastjson
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from tests.broker.harness import FakeConnection, call, make_broker, vector_command

SEND = "cpp-send_message-request.bin"


class LagProbeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.probe = LagProbe(self.clock, wait_ms=200)
        self.loop = self.probe.start()
        self.addCleanup(lambda: self.loop.stop() if self.loop.running else None)

    def test_on_time_ticks_show_no_lag(self) -> None:
        """Ticks that run on schedule record zero lag and do not flag the broker busy."""
        for _ in range(50):
            self.clock.advance(self.probe.interval)
        self.assertEqual((self.probe.lag_ms, self.probe.lagging), (0, False))

    def test_late_tick_flags_lag_until_an_on_time_tick(self) -> None:
        """A tick 290 ms late flags lag; the next on-time tick clears it."""
        self.clock.advance(0.3)
        self.assertEqual((self.probe.lag_ms, self.probe.lagging), (290, True))
        self.clock.advance(self.probe.interval)
        self.assertEqual((self.probe.lag_ms, self.probe.lagging), (0, False))

    def test_lag_below_wait_is_not_busy(self) -> None:
        """A tick 190 ms late is below the 200 ms wait and does not flag the broker."""
        self.clock.advance(0.2)
        self.assertEqual((self.probe.lag_ms, self.probe.lagging), (190, False))

    def test_a_dying_probe_leaves_sends_accepted(self) -> None:
        """If a tick raises, the loop ends with lagging cleared and the failure logged."""
        self.clock.advance(0.3)
        self.assertTrue(self.probe.lagging)

        class BrokenClock:
            def seconds(self) -> float:
                raise RuntimeError("boom")

        self.probe.clock = BrokenClock()  # the loop keeps the real clock; tick() now raises
        self.clock.advance(self.probe.interval)
        self.assertFalse(self.loop.running)
        self.assertFalse(self.probe.lagging)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_gate_queue_not_shed_with_fast_failure_off(self) -> None:
        """brokerFastFailureEnable=false: a send queued behind a busy one waits, never shed."""
        config = BrokerConfig()
        config.update({"brokerFastFailureEnable": "false"})
        gate = RequestGate(self.clock, 1, 10, 200, config=config, probe=self.probe)
        slow: Deferred[str] = Deferred()
        gate.submit(lambda c, r: slow, None, None)  # type: ignore[arg-type]
        queued = gate.submit(lambda c, r: "ok", None, None)  # type: ignore[arg-type]
        self.clock.advance(0.3)
        self.assertNoResult(queued)
        slow.callback("done")
        self.assertEqual(self.successResultOf(queued), "ok")

    def test_restart_forgets_the_previous_tick(self) -> None:
        """After a stop and a long pause, a restarted probe does not count the pause as lag."""
        self.loop.stop()
        self.clock.advance(5.0)
        self.loop = self.probe.start()
        self.clock.advance(self.probe.interval)
        self.assertEqual((self.probe.lag_ms, self.probe.lagging), (0, False))


class SendSheddingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = make_broker(self)
        self.clock: Clock = self.broker.clock
        self.conn = FakeConnection()
        loop = self.broker.lag_probe.start()  # type: ignore[attr-defined]
        self.addCleanup(loop.stop)

    def send(self) -> RemotingCommand:
        return call(self.broker, self.conn, vector_command(SEND))

    def test_send_answers_normally_when_reactor_keeps_up(self) -> None:
        """With on-time ticks a real send is stored and answered SUCCESS."""
        self.clock.advance(0.01)
        resp = self.send()
        self.assertEqual(resp.code, 0, resp.remark)
        self.assertIn("msgId", resp.ext_fields)

    def test_send_gets_system_busy_while_reactor_lags(self) -> None:
        """A send read after a 300 ms reactor stall gets SYSTEM_BUSY [TIMEOUT_CLEAN_QUEUE]."""
        before = self.broker.store.commitlog.max_offset  # type: ignore[attr-defined]
        self.clock.advance(0.3)
        resp = self.send()
        self.assertEqual(resp.code, 2)
        self.assertEqual(
            resp.remark,
            "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, "
            "period in queue: 290ms, size of queue: 0",
        )
        self.assertEqual(self.broker.store.commitlog.max_offset, before)  # type: ignore[attr-defined]
        self.assertEqual(self.broker.send_gate.rejected, 1)  # type: ignore[attr-defined]

    def test_sends_resume_after_an_on_time_tick(self) -> None:
        """Once the reactor is on time again the next send is stored normally."""
        self.clock.advance(0.3)
        self.assertEqual(self.send().code, 2)
        self.clock.advance(0.01)
        resp = self.send()
        self.assertEqual(resp.code, 0, resp.remark)

    def test_wait_is_read_live_from_config(self) -> None:
        """With waitTimeMillsInSendQueue raised to 1000 a 300 ms stall sheds nothing."""
        self.broker.config.update({"waitTimeMillsInSendQueue": "1000"})
        self.clock.advance(0.3)
        self.assertEqual(self.send().code, 0)
        self.clock.advance(1.1)
        self.assertEqual(self.send().code, 2)

    def test_runtime_info_reports_the_lag(self) -> None:
        """GET_BROKER_RUNTIME_INFO's send-queue head wait shows the reactor's lag."""
        self.clock.advance(0.3)
        cmd = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO)
        table = fastjson.loads(call(self.broker, self.conn, cmd).body or b"")["table"]
        self.assertEqual(table["sendThreadPoolQueueHeadWaitTimeMills"], "290")
        self.assertEqual(table["sendThreadPoolQueueSize"], "0")

    def test_fast_failure_can_be_turned_off(self) -> None:
        """brokerFastFailureEnable=false: a send after a stall is stored, not shed."""
        self.broker.config.update({"brokerFastFailureEnable": "false"})
        self.clock.advance(0.3)
        self.assertEqual(self.send().code, 0)


class ControllerWiringTests(SynchronousTestCase):
    def test_controller_timers_start_the_probe(self) -> None:
        """The broker's started timers run the lag probe, so a stalled reactor sheds sends."""
        broker: BrokerController = make_broker(self)
        broker._start_services()
        self.addCleanup(lambda: [loop.stop() for loop in broker._loops if loop.running])
        clock: Clock = broker.clock
        conn = FakeConnection()
        clock.advance(0.01)
        self.assertEqual(call(broker, conn, vector_command(SEND)).code, 0)
        clock.advance(0.5)
        self.assertEqual(call(broker, conn, vector_command(SEND)).code, 2)
