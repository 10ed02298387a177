"""The running name server: a listening endpoint plus the broker liveness scan.

``NamesrvService`` is a ``MultiService`` whose children listen on a server endpoint and run a
LoopingCall that drops brokers silent for ``brokerChannelExpiredTime`` (closing their
connections). The scan catches and logs its own errors, so one bad pass never stops the loop.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet import task
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.namesrv.config import NamesrvConfig
from rmq.namesrv.kvconfig import KVConfigManager, Runner, atomic_write, synchronous_runner
from rmq.namesrv.processor import NamesrvProcessor
from rmq.namesrv.routeinfo import RouteInfoTables
from rmq.remoting.dispatcher import Dispatcher
from rmq.remoting.protocol import RemotingConnection
from rmq.remoting.server import RemotingServerFactory

__all__ = ["ListenService", "NamesrvService", "ScanService"]

_log = Logger()


class ListenService(Service):
    """Listens on an endpoint; records the bound address and optionally writes it to a file.

    If listening fails the error is logged and ``on_listen_failed`` runs (twistd stops the
    reactor there, so a taken port ends the process instead of leaving it deaf).
    """

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        factory: RemotingServerFactory,
        port_file: str | None = None,
        on_listen_failed: Any = None,
    ) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self.port_file = port_file
        self.on_listen_failed = on_listen_failed
        self.port: IListeningPort | None = None
        self.address: str | None = None
        self.listening: Deferred[IListeningPort] = Deferred()

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        d = self.endpoint.listen(self.factory)
        d.addCallbacks(self._listening, self._failed)

    def _listening(self, port: IListeningPort) -> None:
        self.port = port
        host = port.getHost()
        self.address = f"{getattr(host, 'host', '?')}:{getattr(host, 'port', '?')}"
        _log.info("name server listening on {address}", address=self.address)
        if self.port_file:
            tmp = f"{self.port_file}.tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(self.address + "\n")
            os.replace(tmp, self.port_file)
        self.listening.callback(port)

    def _failed(self, failure: Failure) -> None:
        _log.failure("name server cannot listen", failure)
        self.listening.errback(failure)
        self.listening.addErrback(lambda _: None)
        if self.on_listen_failed is not None:
            self.on_listen_failed()

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        port, self.port = self.port, None
        self.factory.close_all()
        d = None if port is None else port.stopListening()
        return succeed(None) if d is None else d


class ScanService(Service):
    """Every ``interval`` seconds, drop brokers whose last registration is too old."""

    def __init__(
        self,
        routes: RouteInfoTables,
        clock: Any,
        interval: float,
        max_idle: float,
    ) -> None:
        self.routes = routes
        self.clock = clock
        self.interval = interval
        self.max_idle = max_idle
        self.loop = task.LoopingCall(self.scan)
        self.loop.clock = clock

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.loop.start(self.interval, now=False)

    def stopService(self) -> None:
        super().stopService()  # type: ignore[no-untyped-call]
        if self.loop.running:
            self.loop.stop()

    def scan(self) -> None:
        """One pass; never raises, so the LoopingCall keeps running."""
        try:
            for addr, channel in self.routes.expire(self.clock.seconds(), self.max_idle):
                _log.warn(
                    "broker {addr} expired: no registration for {s}s", addr=addr, s=self.max_idle
                )
                if isinstance(channel, RemotingConnection):
                    channel.close()
        except Exception:
            _log.failure("broker scan failed; will retry next interval")


class NamesrvService(MultiService):
    """The name server: tables, KV store, processors, listener and liveness scan."""

    def __init__(
        self,
        config: NamesrvConfig,
        reactor: Any,
        endpoint: IStreamServerEndpoint,
        runner: Runner = synchronous_runner,
        port_file: str | None = None,
        on_listen_failed: Any = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.config = config
        self.reactor = reactor
        self.runner = runner
        self.routes = RouteInfoTables()
        self.kv = KVConfigManager(config.kvConfigPath, runner)
        self.dispatcher = Dispatcher()
        self.processor = NamesrvProcessor(
            self.routes, self.kv, config, reactor, on_config_updated=self._persist_config
        )
        self.processor.register(self.dispatcher)
        self.factory = RemotingServerFactory(
            self.dispatcher, reactor, idle_timeout=float(config.serverChannelMaxIdleTimeSeconds)
        )
        self.listener = ListenService(endpoint, self.factory, port_file, on_listen_failed)
        self.listener.setServiceParent(self)  # type: ignore[no-untyped-call]
        self.scanner = ScanService(
            self.routes,
            reactor,
            config.scanNotActiveBrokerInterval / 1000.0,
            config.brokerChannelExpiredTime / 1000.0,
        )
        self.scanner.setServiceParent(self)  # type: ignore[no-untyped-call]

    def startService(self) -> None:
        self.kv.load()
        super().startService()  # type: ignore[no-untyped-call]

    def stopService(self) -> Deferred[None]:
        d: Deferred[Any] = maybeDeferred(super().stopService)
        d.addCallback(lambda _: self.kv.flushed())
        return d

    def _persist_config(self) -> None:
        path = self.config.configStorePath
        data = self.config.to_properties().encode("utf-8")
        d = self.runner(lambda: atomic_write(path, data))
        d.addErrback(lambda f: _log.failure("cannot persist {path}", f, path=path))
