"""Tests for CHECK_CLIENT_CONFIG (46)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.processor import filtercheck
from rmq.common import fastjson
from rmq.filter.tags import SQL92, build_subscription
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher


class FakeConnection:
    peer = "127.0.0.1:5555"

    def __init__(self) -> None:
        self.sent: list[RemotingCommand] = []

    def send_response(self, cmd: RemotingCommand) -> None:
        self.sent.append(cmd)


def check_request(sub: dict[str, Any] | None) -> RemotingCommand:
    body: dict[str, Any] = {"clientId": "127.0.0.1@1", "group": "G"}
    if sub is not None:
        body["subscriptionData"] = sub
    return RemotingCommand.request(RequestCode.CHECK_CLIENT_CONFIG, body=fastjson.dumpb(body))


class CheckClientConfigTests(SynchronousTestCase):
    """Answers for TAG, SQL92 on and off, and bad SQL."""

    def answer(self, request: RemotingCommand, enabled: bool = True) -> RemotingCommand:
        broker = SimpleNamespace(
            config=SimpleNamespace(enable_property_filter=enabled), clock=Clock()
        )
        dispatcher = Dispatcher()
        filtercheck.register(dispatcher, broker)
        conn = FakeConnection()
        dispatcher.dispatch(conn, request)  # type: ignore[arg-type]
        (response,) = conn.sent
        self.assertEqual(response.opaque, request.opaque)
        return response

    def test_tag_always_ok(self) -> None:
        """A TAG subscription is fine even with property filtering off."""
        sub = build_subscription("T", "a || b").to_json()
        self.assertEqual(self.answer(check_request(sub), enabled=False).code, 0)

    def test_sql_disabled(self) -> None:
        """SQL92 with enablePropertyFilter=false is SYSTEM_ERROR with Java's remark."""
        sub = build_subscription("T", "a > 1", SQL92).to_json()
        response = self.answer(check_request(sub), enabled=False)
        self.assertEqual(response.code, 1)
        self.assertIn("does not support consumer to filter message by SQL92", response.remark or "")

    def test_sql_ok(self) -> None:
        """A valid SQL92 expression is accepted when enabled."""
        sub = build_subscription("T", "a BETWEEN 1 AND 3", SQL92).to_json()
        self.assertEqual(self.answer(check_request(sub)).code, 0)

    def test_sql_parse_failed(self) -> None:
        """A bad SQL92 expression gets 23 with a remark naming the problem and position."""
        sub = build_subscription("T", "a > AND", SQL92).to_json()
        response = self.answer(check_request(sub))
        self.assertEqual(response.code, 23)
        self.assertIn("column 5", response.remark or "")

    def test_unknown_expression_type(self) -> None:
        """An expression type other than TAG/SQL92 is a parse failure."""
        sub = {"topic": "T", "subString": "x", "expressionType": "GROOVY"}
        self.assertEqual(self.answer(check_request(sub)).code, 23)

    def test_no_subscription_is_ok(self) -> None:
        """A body without subscriptionData (or no body) is SUCCESS, as in Java."""
        self.assertEqual(self.answer(check_request(None)).code, 0)
        empty = RemotingCommand.request(RequestCode.CHECK_CLIENT_CONFIG)
        self.assertEqual(self.answer(empty).code, 0)

    def test_malformed_body(self) -> None:
        """A body that is not JSON is SYSTEM_ERROR."""
        bad = RemotingCommand.request(RequestCode.CHECK_CLIENT_CONFIG, body=b"{nope")
        self.assertEqual(self.answer(bad).code, 1)
