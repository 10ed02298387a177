"""Sub-command registry: each command declares its options and an async runner.

Runners get a ``Context`` (the AdminAPI, the reactor for the clock) and the parsed
arguments, and fire with a ``Report``. Shared option helpers keep mqadmin's letters.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

import attrs
from twisted.internet.defer import Deferred

from rmq.admin.api import AdminAPI
from rmq.admin.report import Report
from rmq.common.errors import MQClientError

__all__ = ["COMMANDS", "Command", "Context", "command", "masters_of", "target_options"]

Runner = Callable[["Context", argparse.Namespace], Deferred[Report]]
Options = Callable[[argparse.ArgumentParser], None]


@attrs.define
class Context:
    """What a runner works with."""

    api: AdminAPI
    reactor: Any

    def now_ms(self) -> int:
        """Now, in epoch milliseconds, from the reactor's clock."""
        return int(self.reactor.seconds() * 1000)


@attrs.frozen
class Command:
    """One sub-command: its name, one-line help, option declarations and runner."""

    name: str
    help: str
    options: Options
    run: Runner


COMMANDS: dict[str, Command] = {}


def command(
    name: str, help: str, options: Options
) -> Callable[[Callable[[Context, argparse.Namespace], Coroutine[Any, Any, Report]]], Runner]:
    """Register a coroutine function as the runner of ``name``."""

    def wrap(fn: Callable[[Context, argparse.Namespace], Coroutine[Any, Any, Report]]) -> Runner:
        def runner(ctx: Context, args: argparse.Namespace) -> Deferred[Report]:
            return Deferred.fromCoroutine(fn(ctx, args))

        COMMANDS[name] = Command(name, help, options, runner)
        return runner

    return wrap


def target_options(p: argparse.ArgumentParser) -> None:
    """``-b brokerAddr | -c clusterName``: one broker, or every master of a cluster."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("-b", "--brokerAddr", help="broker address host:port")
    g.add_argument("-c", "--clusterName", help="every master broker of this cluster")


def masters_of(ctx: Context, args: argparse.Namespace) -> Deferred[dict[str, str]]:
    """Broker name (or the address itself for ``-b``) -> master address."""
    addr = getattr(args, "brokerAddr", None)
    if addr:
        d: Deferred[dict[str, str]] = Deferred()
        d.callback({addr: addr})
        return d
    cluster = getattr(args, "clusterName", None)
    if not cluster:
        raise MQClientError("give -b brokerAddr or -c clusterName")
    return ctx.api.master_addrs(cluster)
