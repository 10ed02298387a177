"""rmq-admin argument parsing, defaults and error reporting (no servers needed)."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from twisted.internet import defer, reactor
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from rmq.admin.cli import (
    DEFAULT_NAMESRV,
    EXIT_ERROR,
    EXIT_UNREACHABLE,
    build_parser,
    describe_error,
    run,
)
from rmq.admin.registry import COMMANDS
from rmq.common.errors import MQClientError, RemoteError, RemotingConnectError

ALL = (
    "updateTopic",
    "deleteTopic",
    "topicList",
    "topicRoute",
    "topicStatus",
    "clusterList",
    "brokerStatus",
    "getBrokerConfig",
    "updateBrokerConfig",
    "updateSubGroup",
    "deleteSubGroup",
    "consumerProgress",
    "consumerStatus",
    "consumerConnection",
    "producerConnection",
    "queryMsgById",
    "queryMsgByKey",
    "queryMsgByUniqueKey",
    "queryMsgByOffset",
    "printMsg",
    "resetOffsetByTime",
    "sendMessage",
    "consumeMessage",
    "wipeWritePerm",
    "addWritePerm",
    "updateKvConfig",
    "deleteKvConfig",
    "getNamesrvConfig",
    "updateNamesrvConfig",
)


class ParserTest(SynchronousTestCase):
    def test_every_sub_command_is_registered(self) -> None:
        """All 28 mqadmin sub-commands of the issue exist."""
        self.assertEqual(sorted(COMMANDS), sorted(ALL))

    def test_namesrv_defaults(self) -> None:
        """-n defaults to $NAMESRV_ADDR, else 127.0.0.1:9876."""
        args = build_parser({}).parse_args(["topicList"])
        self.assertEqual(args.namesrvAddr, DEFAULT_NAMESRV)
        args = build_parser({"NAMESRV_ADDR": "10.0.0.1:9876"}).parse_args(["topicList"])
        self.assertEqual(args.namesrvAddr, "10.0.0.1:9876")

    def test_update_topic_options(self) -> None:
        """updateTopic takes mqadmin's letters with their defaults."""
        args = build_parser({}).parse_args(
            ["updateTopic", "-n", "h:1", "-c", "C", "-t", "T", "-r", "4", "-o", "true"]
        )
        self.assertEqual(
            (args.namesrvAddr, args.clusterName, args.brokerAddr, args.topic),
            ("h:1", "C", None, "T"),
        )
        self.assertEqual((args.readQueueNums, args.writeQueueNums, args.perm), (4, 8, 6))
        self.assertIs(args.order, True)

    def test_broker_and_cluster_are_exclusive(self) -> None:
        """-b and -c together (or neither) is a usage error."""
        parser = build_parser({})
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
            parser.parse_args(["updateTopic", "-t", "T", "-b", "a:1", "-c", "C"])
        self.assertIn("not allowed with argument", err.getvalue())
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            parser.parse_args(["updateTopic", "-t", "T"])

    def test_json_flag_and_timeout(self) -> None:
        """--json and --timeout are accepted by every sub-command."""
        args = build_parser({}).parse_args(["clusterList", "--json", "--timeout", "1.5"])
        self.assertEqual((args.json, args.timeout), (True, 1.5))

    def test_bad_boolean_is_usage_error(self) -> None:
        """A boolean option accepts only true/false."""
        parser = build_parser({})
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
            parser.parse_args(["updateTopic", "-c", "C", "-t", "T", "-o", "maybe"])
        self.assertIn("expected true or false", err.getvalue())


class DescribeErrorTest(SynchronousTestCase):
    def test_remote_error_shows_code_and_remark(self) -> None:
        """An error answer prints CODE and DESC and exits 1."""
        msg, status = describe_error(Failure(RemoteError(17, "no route")))
        self.assertEqual(status, EXIT_ERROR)
        self.assertIn("CODE: 17 DESC: no route", msg)

    def test_unreachable_exits_3(self) -> None:
        """A connection failure says unreachable and exits 3."""
        msg, status = describe_error(Failure(RemotingConnectError("connect to x failed")))
        self.assertEqual(status, EXIT_UNREACHABLE)
        self.assertIn("unreachable", msg)

    def test_client_error(self) -> None:
        """A client-side precondition failure names itself."""
        msg, status = describe_error(Failure(MQClientError("cluster [X] not found")))
        self.assertEqual((msg, status), ("MQClientError: cluster [X] not found", EXIT_ERROR))


class UnreachableTest(TestCase):
    @defer.inlineCallbacks
    def test_unreachable_name_server(self) -> Any:
        """A closed port: stderr explains, stdout stays empty, exit status 3."""
        from twisted.internet.protocol import Factory

        port = reactor.listenTCP(0, Factory(), interface="127.0.0.1")  # type: ignore[attr-defined]
        addr = f"127.0.0.1:{port.getHost().port}"
        yield port.stopListening()
        out, err = io.StringIO(), io.StringIO()
        status = yield run(reactor, ["topicList", "-n", addr], out, err, environ={})
        self.assertEqual(status, EXIT_UNREACHABLE)
        self.assertEqual(out.getvalue(), "")
        self.assertIn(f"rmq-admin topicList: server unreachable: connect to {addr}", err.getvalue())

    @defer.inlineCallbacks
    def test_usage_error_status(self) -> Any:
        """A missing required option exits 2 without contacting anything."""
        with contextlib.redirect_stderr(io.StringIO()):
            status = yield run(reactor, ["topicRoute"], io.StringIO(), io.StringIO(), environ={})
        self.assertEqual(status, 2)
