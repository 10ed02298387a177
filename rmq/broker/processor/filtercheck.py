"""CHECK_CLIENT_CONFIG (46): may this consumer subscribe with this expression here?

A push consumer sends ``{"clientId","group","subscriptionData":{...}}`` (REFERENCE §3.5, §4.4)
before it starts with a non-TAG subscription. TAG subscriptions are always fine; SQL92 needs
``enablePropertyFilter=true`` (else SYSTEM_ERROR, with Java's remark) and an expression that
compiles (else SUBSCRIPTION_PARSE_FAILED, 23, with a remark naming the problem and position).

Wiring: ``register(dispatcher, broker)`` needs ``broker.config.enable_property_filter``.
"""

from __future__ import annotations

from typing import Any

from rmq.common import fastjson
from rmq.common.errors import RMQError, SubscriptionParseFailed
from rmq.filter.sql92 import compile_sql92
from rmq.filter.tags import SQL92, SubscriptionData, is_tag_type
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand
from rmq.remoting.dispatcher import Dispatcher

__all__ = ["check_subscription", "register"]


def check_subscription(sub: SubscriptionData, enable_property_filter: bool) -> None:
    """Raise what the broker answers for ``sub``: RMQError (code 1) or SubscriptionParseFailed."""
    if is_tag_type(sub.expression_type):
        return
    if not enable_property_filter:
        raise RMQError(
            "The broker does not support consumer to filter message by " + sub.expression_type
        )
    if sub.expression_type != SQL92:
        raise SubscriptionParseFailed(f"unsupported expression type {sub.expression_type!r}")
    compile_sql92(sub.sub_string)


def _decode(body: bytes | None) -> SubscriptionData | None:
    if not body:
        return None
    obj = fastjson.load_object(body, "CHECK_CLIENT_CONFIG")
    raw = obj.get("subscriptionData")
    return None if raw is None else SubscriptionData.from_json(raw)


def register(dispatcher: Dispatcher, broker: Any) -> None:
    """Register CHECK_CLIENT_CONFIG on ``dispatcher``."""

    def check_client_config(conn: Any, request: RemotingCommand) -> RemotingCommand:
        sub = _decode(request.body)
        if sub is not None:
            check_subscription(sub, bool(broker.config.enable_property_filter))
        return request.make_response()

    dispatcher.register(RequestCode.CHECK_CLIENT_CONFIG, check_client_config)
