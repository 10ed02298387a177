"""twistd plugin glue: ``twistd rmq-namesrv --config FILE --listen ENDPOINT``."""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.python import usage

from rmq.common.errors import ConfigError
from rmq.namesrv.config import NamesrvConfig, load_config

__all__ = ["Options", "makeService"]


class Options(usage.Options):
    """Command line of the name server; config errors become usage errors naming the key."""

    optParameters = [
        ["config", "c", None, "YAML configuration file (keys as in etc/namesrv.yaml)."],
        [
            "listen",
            "l",
            None,
            "Twisted server endpoint, e.g. tcp:9876:interface=127.0.0.1 "
            "(default: from listenPort and bindAddress).",
        ],
        ["port-file", None, None, "Write the bound 'host:port' to this file once listening."],
    ]

    def postOptions(self) -> None:
        try:
            self.namesrv_config: NamesrvConfig = load_config(self["config"])
        except ConfigError as exc:
            raise usage.UsageError(exc.remark) from exc
        if self["listen"] is None:
            cfg = self.namesrv_config
            self["listen"] = f"tcp:{cfg.listenPort}:interface={cfg.bindAddress}"


def makeService(options: Options) -> IService:
    """Build the name server on the global reactor (the only place that imports it)."""
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThreadPool

    from rmq.namesrv.service import NamesrvService

    r: Any = reactor
    endpoint = endpoints.serverFromString(r, options["listen"])

    def runner(work: Any) -> Any:
        return deferToThreadPool(r, r.getThreadPool(), work)

    def listen_failed() -> None:
        if r.running:
            r.stop()

    return NamesrvService(
        options.namesrv_config,
        r,
        endpoint,
        runner=runner,
        port_file=options["port-file"],
        on_listen_failed=listen_failed,
    )
