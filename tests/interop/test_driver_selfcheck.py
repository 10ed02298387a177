"""Self-checks of the C++ client driver and its Twisted helper that need no rmq server."""

from __future__ import annotations

import os
import signal
import socket
import textwrap
from collections.abc import Generator
from typing import Any

from twisted.internet import defer
from twisted.internet import reactor as _reactor
from twisted.internet.interfaces import IReactorProcess
from twisted.trial import unittest

from tests.interop import cppdriver
from tests.interop.driver import (
    DriverEnded,
    DriverProcess,
    DriverResult,
    DriverTimeout,
    _with_option,
    run_cpp_driver,
)

reactor = IReactorProcess(_reactor)
Gen = Generator[defer.Deferred[Any], Any, None]


def closed_port() -> int:
    """A loopback port that nothing listens on (bound by the OS, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def pid_gone(pid: int) -> bool:
    """True when no process with this PID exists any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class ArgumentTests(unittest.SynchronousTestCase):
    """Argument handling and body building of cppdriver.py (pure functions)."""

    def test_json_to_argv(self) -> None:
        """JSON keys become dashed flags; true is a bare flag, lists repeat, false/null vanish."""
        argv = cppdriver.json_to_argv(
            '{"scenario": "produce", "log_dir": "/x", "count": 3, "keep_going": true,'
            ' "body_binary": false, "tags": null, "prop": ["a=1", "b=2"]}'
        )
        expected = ["produce", "--log-dir", "/x", "--count", "3", "--keep-going"]
        expected += ["--prop", "a=1", "--prop", "b=2"]
        self.assertEqual(argv, expected)

    def test_json_and_argparse_agree(self) -> None:
        """The JSON form parses to the same namespace as the flag form."""
        flags = cppdriver.parse_args(
            ["push", "--log-dir", "/l", "--expect", "2", "--orderly", "--show-prop", "p"]
        )
        json_form = cppdriver.parse_args(
            ['{"scenario":"push","log_dir":"/l","expect":2,"orderly":true,"show_prop":["p"]}']
        )
        self.assertEqual(vars(flags), vars(json_form))
        self.assertEqual((flags.expect, flags.orderly, flags.show_prop), (2, True, ["p"]))

    def test_json_needs_scenario(self) -> None:
        """A JSON object without a scenario is rejected."""
        self.assertRaises(ValueError, cppdriver.json_to_argv, '{"count": 1}')

    def test_log_dir_required(self) -> None:
        """Every scenario requires --log-dir (the C++ log must never default to $HOME)."""
        self.assertRaises(SystemExit, cppdriver.build_parser().parse_args, ["pull"])

    def test_make_body_pads_deterministically(self) -> None:
        """Bodies start with prefix+index, have the asked size, and are reproducible."""
        body = cppdriver.make_body(12, 100, "p-")
        self.assertTrue(body.startswith(b"p-12:"))
        self.assertEqual(len(body), 100)
        self.assertEqual(body, cppdriver.make_body(12, 100, "p-"))

    def test_make_body_small_and_binary(self) -> None:
        """A size below the head keeps the head; binary padding contains NUL bytes."""
        self.assertEqual(cppdriver.make_body(3, 0, "x"), b"x3:")
        self.assertIn(b"\x00", cppdriver.make_body(3, 600, "x", binary=True))

    def test_expand(self) -> None:
        """'{i}' in a template is replaced by the message index."""
        self.assertEqual(cppdriver.expand("k{i}-{i}", 7), "k7-7")
        self.assertIsNone(cppdriver.expand(None, 7))


class HelperPureTests(unittest.SynchronousTestCase):
    """Pure parts of the Twisted helper."""

    def test_with_option_appends_once(self) -> None:
        """An option is appended when absent and left alone when present."""
        self.assertEqual(_with_option(["pull"], "deadline", "5"), ["pull", "--deadline", "5"])
        self.assertEqual(
            _with_option(["pull", "--deadline=9"], "deadline", "5"), ["pull", "--deadline=9"]
        )

    def test_with_option_json(self) -> None:
        """A JSON argument gets the option as a key (existing keys win)."""
        (out,) = _with_option(['{"scenario": "pull", "deadline": 9}'], "log-dir", "/l")
        self.assertIn('"log_dir": "/l"', out)
        (kept,) = _with_option([out], "deadline", "5")
        self.assertIn('"deadline": 9', kept)

    def test_result_accessors(self) -> None:
        """summary is the last summary line, errors the error lines, ok needs exit 0."""
        result = DriverResult(
            events=[
                {"event": "message", "n": 1},
                {"event": "summary", "k": 1},
                {"event": "error", "stage": "x"},
                {"event": "summary", "k": 2},
            ],
            exit_code=2,
            signal=None,
            stderr_tail="",
            timed_out=False,
        )
        self.assertEqual(result.summary, {"event": "summary", "k": 2})
        self.assertEqual([e["stage"] for e in result.errors], ["x"])
        self.assertEqual(len(result.messages), 1)
        self.assertFalse(result.ok)

    def test_ok_tolerates_shutdown_abort(self) -> None:
        """Exit 6 after a planned clean exit counts as ok; with an error line it does not."""
        events = [{"event": "summary"}, {"event": "shutting_down", "planned_exit": 0}]
        aborted = DriverResult(events, 6, None, "terminate called", False)
        self.assertTrue(aborted.shutdown_aborted)
        self.assertTrue(aborted.ok)
        failed = DriverResult([*events, {"event": "error"}], 6, None, "", False)
        self.assertFalse(failed.ok)


class CppClientNoServerTests(unittest.TestCase):
    """The real C++ client in a child process, against a closed loopback port."""

    timeout = 60

    def run_driver(self, *args: str, timeout: float = 30.0) -> defer.Deferred[DriverResult]:
        """Run cppdriver with a fresh log dir under the test's temp dir."""
        self.log_dir = os.path.abspath(self.mktemp())
        return run_cpp_driver(reactor, list(args), self.log_dir, timeout)

    @defer.inlineCallbacks
    def test_bodycheck_binary_bodies(self) -> Gen:
        """Binary bodies (with NUL bytes) round-trip through the body reader exactly."""
        result = yield self.run_driver("bodycheck")
        assert isinstance(result, DriverResult)
        self.assertEqual(result.exit_code, 0, result.stderr_tail)
        summary = result.summary
        assert summary is not None
        self.assertTrue(summary["ok"])
        self.assertTrue(all(r["exact"] for r in summary["results"]))

    @defer.inlineCallbacks
    def test_producer_closed_port(self) -> Gen:
        """A send with no name server ends with a clean send error, well before the deadline."""
        addr = f"127.0.0.1:{closed_port()}"
        result = yield self.run_driver("produce", "--namesrv", addr, "--deadline", "20")
        assert isinstance(result, DriverResult)
        self.assertEqual(result.exit_code, 2, result.events)
        self.assertFalse(result.timed_out)
        self.assertEqual([e["stage"] for e in result.errors], ["send"])
        self.assertIn("No route info", result.errors[0]["message"])
        (started,) = result.of("started")
        self.assertTrue(started["log_file"].startswith(self.log_dir + os.sep))
        self.assertTrue(os.path.exists(started["log_file"]))

    @defer.inlineCallbacks
    def test_push_consumer_deadline(self) -> Gen:
        """A push consumer that never gets its messages is ended by its own deadline."""
        addr = f"127.0.0.1:{closed_port()}"
        result = yield self.run_driver(
            "push", "--namesrv", addr, "--expect", "1", "--deadline", "2"
        )
        assert isinstance(result, DriverResult)
        self.assertEqual(result.exit_code, cppdriver.EXIT_DEADLINE, result.events)
        self.assertFalse(result.timed_out)
        self.assertEqual(result.errors[-1]["stage"], "deadline")
        self.assertEqual(len(result.of("client_started")), 1)

    @defer.inlineCallbacks
    def test_push_consumer_idle(self) -> Gen:
        """An idle push consumer stops, summarises, and reports the missing consumes."""
        addr = f"127.0.0.1:{closed_port()}"
        result = yield self.run_driver(
            "push", "--namesrv", addr, "--expect", "1", "--idle-timeout", "0.5"
        )
        assert isinstance(result, DriverResult)
        self.assertEqual(result.exit_code, 2, result.events)
        summary = result.summary
        assert summary is not None
        self.assertEqual((summary["reason"], summary["consumed"]), ("idle", 0))
        self.assertEqual(result.of("shutdown"), [{"event": "shutdown", "clean": True}])
        self.assertEqual(result.errors[-1]["stage"], "push")
        self.assertIn("expected 1 consumes, got 0", result.errors[-1]["message"])

    @defer.inlineCallbacks
    def test_push_consumer_sigterm(self) -> Gen:
        """SIGTERM makes a push consumer shut down cleanly and exit 0 with a summary."""
        addr = f"127.0.0.1:{closed_port()}"
        proc = DriverProcess(
            reactor,
            ["push", "--namesrv", addr, "--deadline", "30"],
            os.path.abspath(self.mktemp()),
        )
        self.addCleanup(proc.kill)
        yield proc.wait_for_events(1, "client_started", timeout=20)
        result = yield proc.stop(grace=10)
        assert isinstance(result, DriverResult)
        self.assertEqual(result.exit_code, 0, result.events)
        summary = result.summary
        assert summary is not None
        self.assertEqual(summary["reason"], "sigterm")

    @defer.inlineCallbacks
    def test_pull_consumer_closed_port(
        self,
    ) -> Gen:
        """A pull consumer that finds no queues reports an error instead of printing nothing."""
        addr = f"127.0.0.1:{closed_port()}"
        result = yield self.run_driver("pull", "--namesrv", addr)
        assert isinstance(result, DriverResult)
        self.assertEqual(result.exit_code, 2, result.events)
        self.assertEqual(result.errors[-1]["stage"], "fetch_queues")

    @defer.inlineCallbacks
    def test_bad_arguments(self) -> Gen:
        """Unknown options give a usage error line and exit code 64."""
        result = yield self.run_driver("produce", "--no-such-option")
        assert isinstance(result, DriverResult)
        self.assertEqual(result.exit_code, cppdriver.EXIT_USAGE)
        self.assertEqual(result.errors[-1]["stage"], "args")


FAKE_DRIVER = textwrap.dedent(
    """
    import json, signal, sys, time
    mode = sys.argv[1]
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(json.dumps({"event": "started"}), flush=True)
    print("not json", flush=True)
    if mode == "exit5":
        sys.exit(5)
    for n in range(1000):
        print(json.dumps({"event": "message", "n": n}), flush=True)
        time.sleep(0.02 if mode == "chatty" else 60)
    """
)


class HelperProcessTests(unittest.TestCase):
    """The Twisted helper against a fake driver script (no C++ client involved)."""

    timeout = 30

    def setUp(self) -> None:
        self.script = os.path.abspath(self.mktemp())
        with open(self.script, "w") as f:
            f.write(FAKE_DRIVER)
        self.log_dir = os.path.abspath(self.mktemp())

    def spawn(self, mode: str) -> DriverProcess:
        """Start the fake driver and make sure it dies with the test."""
        proc = DriverProcess(reactor, [mode], self.log_dir, script=self.script)
        self.addCleanup(proc.kill)
        return proc

    @defer.inlineCallbacks
    def test_timeout_kills_by_pid(self) -> Gen:
        """A driver ignoring SIGTERM is SIGKILLed after the grace period and marked timed out."""
        result = yield run_cpp_driver(reactor, ["stubborn"], self.log_dir, 0.5, script=self.script)
        assert isinstance(result, DriverResult)
        self.assertTrue(result.timed_out)
        self.assertEqual(result.signal, signal.SIGKILL)
        self.assertEqual(result.events[0], {"event": "started"})
        self.assertEqual(result.events[1], {"event": "raw", "line": "not json"})
        self.assertEqual(len(result.messages), 1)

    @defer.inlineCallbacks
    def test_wait_then_stop(self) -> Gen:
        """wait_for_events fires with the first N events; stop() ends the process with SIGTERM."""
        proc = self.spawn("chatty")
        got = yield proc.wait_for_events(3, timeout=10)
        self.assertEqual([e["n"] for e in got], [0, 1, 2])
        result = yield proc.stop(grace=5)
        assert isinstance(result, DriverResult)
        self.assertEqual(result.signal, signal.SIGTERM)
        self.assertTrue(pid_gone(proc.pid))
        self.assertFalse(proc.running)

    @defer.inlineCallbacks
    def test_wait_fails_when_process_ends(
        self,
    ) -> Gen:
        """Waiting for events that never come fails with DriverEnded carrying the exit code."""
        proc = self.spawn("exit5")
        failure = yield self.assertFailure(proc.wait_for_events(2, timeout=10), DriverEnded)
        assert isinstance(failure, DriverEnded)
        self.assertEqual(failure.result.exit_code, 5)
        late = yield self.assertFailure(proc.wait_for_events(1), DriverEnded)
        self.assertIsInstance(late, DriverEnded)

    @defer.inlineCallbacks
    def test_wait_times_out(self) -> Gen:
        """Waiting longer than the timeout fails with DriverTimeout; the process keeps running."""
        proc = self.spawn("slow")
        yield self.assertFailure(proc.wait_for_events(2, timeout=0.3), DriverTimeout)
        self.assertTrue(proc.running)
        result = yield proc.kill()
        assert isinstance(result, DriverResult)
        self.assertEqual(result.signal, signal.SIGKILL)
