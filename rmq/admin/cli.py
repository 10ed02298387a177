"""``rmq-admin``: mqadmin's sub-commands against rmq (or Apache RocketMQ 4.x) servers.

``rmq-admin <subCommand> [-n namesrv] [--json] options...``. Tables for people by default,
``--json`` for scripts. An unreachable server or an error answer prints the code and remark
on stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.python.failure import Failure

from rmq.admin import cmd_admin, cmd_consumer, cmd_messages  # noqa: F401  (register commands)
from rmq.admin.api import AdminAPI
from rmq.admin.registry import COMMANDS, Context
from rmq.admin.report import Report
from rmq.admin.session import Session
from rmq.common.errors import RemoteError, RemotingError, RMQError

__all__ = ["EXIT_ERROR", "EXIT_UNREACHABLE", "EXIT_USAGE", "build_parser", "main", "run"]

DEFAULT_NAMESRV = "127.0.0.1:9876"
EXIT_ERROR = 1
"""The server answered with an error code, or a precondition failed."""
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
"""A server could not be reached (connect failure or timeout)."""


def default_namesrv(environ: dict[str, str] | None = None) -> str:
    """``NAMESRV_ADDR`` from the environment, else 127.0.0.1:9876."""
    env = os.environ if environ is None else environ
    return env.get("NAMESRV_ADDR") or DEFAULT_NAMESRV


def _common(environ: dict[str, str] | None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-n",
        "--namesrvAddr",
        default=default_namesrv(environ),
        help="name servers, ';'-separated (default: $NAMESRV_ADDR or 127.0.0.1:9876)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    common.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    return common


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """The parser with one sub-parser per registered command."""
    parser = argparse.ArgumentParser(
        prog="rmq-admin", description="Administer rmq / RocketMQ 4.x name servers and brokers."
    )
    subs = parser.add_subparsers(dest="command", metavar="subCommand", required=True)
    common = _common(environ)
    for name, cmd in sorted(COMMANDS.items()):
        sub = subs.add_parser(name, help=cmd.help, description=cmd.help, parents=[common])
        cmd.options(sub)
    return parser


def describe_error(failure: Failure) -> tuple[str, int]:
    """The stderr message and exit status for a failed command."""
    exc = failure.value
    if isinstance(exc, RemotingError):
        return f"server unreachable: {exc.remark}", EXIT_UNREACHABLE
    if isinstance(exc, RemoteError):
        return f"server answered an error: CODE: {exc.code} DESC: {exc.remark}", EXIT_ERROR
    if isinstance(exc, RMQError):
        return f"{type(exc).__name__}: {exc.remark}", EXIT_ERROR
    return f"unexpected error: {failure.getErrorMessage()}", EXIT_ERROR


def run(
    reactor: Any,
    argv: Sequence[str],
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Deferred[int]:
    """Parse ``argv``, run the sub-command on ``reactor``, print; fires with the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    parser = build_parser(environ)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return _now(int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE)
    return ensureDeferred(_run(reactor, args, out, err))


async def _run(reactor: Any, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    session = Session(reactor, connect_timeout=args.timeout)
    addrs = [a.strip() for a in args.namesrvAddr.split(";") if a.strip()]
    try:
        api = AdminAPI(session.remoting, addrs, timeout=args.timeout)
        report: Report = await COMMANDS[args.command].run(Context(api, reactor), args)
    except Exception:
        message, status = describe_error(Failure())
        err.write(f"rmq-admin {args.command}: {message}\n")
        await session.close()
        return status
    await session.close()
    out.write(report.to_json() if args.json else report.render())
    return 0


def _now(value: int) -> Deferred[int]:
    d: Deferred[int] = Deferred()
    d.callback(value)
    return d


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``rmq-admin``)."""
    from twisted.internet import task

    args = sys.argv[1:] if argv is None else list(argv)

    async def go(reactor: Any) -> None:
        status = await run(reactor, args)
        if status:
            raise SystemExit(status)

    task.react(lambda r: ensureDeferred(go(r)))
