"""twistd plugin glue: ``twistd rmq-broker --config FILE [--listen EP] [--port-file F] ...``."""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.python import usage

from rmq.broker.config import BrokerConfig, load_broker_config
from rmq.common.errors import ConfigError
from rmq.store.config import StoreConfig

__all__ = ["Options", "makeService"]


class Options(usage.Options):
    """Command line of the broker; config errors become usage errors naming the key."""

    optParameters = [
        ["config", "c", None, "YAML file of broker.conf keys (see etc/broker.yaml)."],
        [
            "listen",
            "l",
            None,
            "Twisted server endpoint, e.g. tcp:0:interface=127.0.0.1 (overrides listenPort).",
        ],
        ["port-file", None, None, "Write the advertised 'ip:port' here once listening."],
        ["namesrv", "n", None, "Name servers, ';'-separated (overrides namesrvAddr)."],
        ["store", "s", None, "Store root directory (overrides storePathRootDir)."],
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.settings: dict[str, str] = {}

    def opt_set(self, assignment: str) -> None:
        """Set one broker.conf key, KEY=VALUE (repeatable; overrides the config file)."""
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise usage.UsageError(f"--set wants KEY=VALUE, got {assignment!r}")
        self.settings[key.strip()] = value.strip()

    def postOptions(self) -> None:
        overrides: dict[str, Any] = dict(self.settings)
        if self["namesrv"] is not None:
            overrides["namesrvAddr"] = self["namesrv"]
        if self["store"] is not None:
            overrides["storePathRootDir"] = self["store"]
        try:
            configs = load_broker_config(self["config"], overrides)
        except ConfigError as exc:
            raise usage.UsageError(exc.remark) from exc
        self.broker_config: BrokerConfig = configs[0]
        self.store_config: StoreConfig = configs[1]


def makeService(options: Options) -> IService:
    """Build the broker on the global reactor (the only place that imports it)."""
    from twisted.internet import reactor

    from rmq.broker.controller import BrokerController
    from rmq.broker.persist import thread_runner
    from rmq.broker.service import BrokerService

    r: Any = reactor
    controller = BrokerController(
        options.broker_config,
        options.store_config,
        r,
        runner=thread_runner(r, r.getThreadPool()),
    )

    def start_failed() -> None:
        if r.running:
            r.stop()

    return BrokerService(controller, options["listen"], options["port-file"], start_failed)
