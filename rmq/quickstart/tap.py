"""``twistd -n rmq``: a name server and a broker in one process, for a first run.

The name server listens on 127.0.0.1:9876 and the broker on 127.0.0.1:10911 with data
under ``~/store`` (RocketMQ's defaults), unless the configs say otherwise. Ctrl-C
stops both: twistd stops the broker first (it unregisters and flushes), then the
name server.
"""

from __future__ import annotations

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python import usage

from rmq.broker import tap as broker_tap
from rmq.namesrv import tap as namesrv_tap

__all__ = ["InOrderService", "Options", "makeService"]

_log = Logger()


class Options(usage.Options):
    """Command line of the all-in-one service."""

    optParameters = [
        ["namesrv-config", None, None, "Name-server YAML (see etc/namesrv.yaml)."],
        ["broker-config", None, None, "Broker YAML (see etc/broker.yaml)."],
        ["store", "s", None, "Broker store root directory (default ~/store)."],
        ["port-file", None, None, "Write the broker's 'ip:port' here once both are up."],
    ]

    def postOptions(self) -> None:
        ns_argv: list[str] = []
        if self["namesrv-config"]:
            ns_argv += ["--config", self["namesrv-config"]]
        self.namesrv = namesrv_tap.Options()  # type: ignore[no-untyped-call]
        self.namesrv.parseOptions(ns_argv)  # type: ignore[no-untyped-call]
        cfg = self.namesrv.namesrv_config
        broker_argv = ["--namesrv", f"{cfg.bindAddress}:{cfg.listenPort}"]
        if self["broker-config"]:
            broker_argv += ["--config", self["broker-config"]]
        if self["store"]:
            broker_argv += ["--store", self["store"]]
        if self["port-file"]:
            broker_argv += ["--port-file", self["port-file"]]
        self.broker = broker_tap.Options()
        self.broker.parseOptions(broker_argv)  # type: ignore[no-untyped-call]


class InOrderService(MultiService):
    """Stops its children one at a time, last added first, each once the previous has stopped.

    A plain MultiService stops every child at once, so the name server would drop its
    connections while the broker's UNREGISTER_BROKER is still on the way.
    """

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop_children())

    async def _stop_children(self) -> None:
        for child in reversed(list(self)):
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                _log.failure("stopping {child} failed", child=child)


def makeService(options: Options) -> IService:
    """Name server first, so the broker's first registration finds it listening.

    Stopping runs the other way round: the broker unregisters and flushes while the name
    server still serves, then the name server stops.
    """
    top = InOrderService()  # type: ignore[no-untyped-call]
    namesrv_tap.makeService(options.namesrv).setServiceParent(top)
    broker_tap.makeService(options.broker).setServiceParent(top)
    return top
