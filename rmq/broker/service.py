"""The broker as a twisted Service: starts the controller, writes the port file, stops cleanly."""

from __future__ import annotations

import os
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.broker.controller import BrokerController

__all__ = ["BrokerService"]

_log = Logger()


class BrokerService(Service):
    """Runs a ``BrokerController``; a failed start is logged and ``on_start_failed`` runs.

    A start that fails at once (a damaged config file, read before the reactor runs) is
    raised from ``startService`` instead, so twistd exits non-zero rather than idling.
    """

    def __init__(
        self,
        controller: BrokerController,
        endpoint: str | None = None,
        port_file: str | None = None,
        on_start_failed: Any = None,
    ) -> None:
        self.controller = controller
        self.endpoint = endpoint
        self.port_file = port_file
        self.on_start_failed = on_start_failed
        self.started: Deferred[None] = Deferred()
        self._early: list[Failure] | None = None

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        early: list[Failure] = []
        self._early = early
        d: Deferred[Any] = self.controller.start(self.endpoint)
        d.addCallbacks(self._started, self._failed)
        self._early = None
        if early:
            early[0].raiseException()

    def _started(self, _: Any) -> None:
        if self.port_file:
            tmp = f"{self.port_file}.tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(f"{self.controller.address}\n")
            os.replace(tmp, self.port_file)
        self.started.callback(None)

    def _failed(self, failure: Failure) -> None:
        _log.failure("broker failed to start", failure)
        self.started.errback(failure)
        self.started.addErrback(lambda _: None)
        if self._early is not None:
            self._early.append(failure)
        elif self.on_start_failed is not None:
            self.on_start_failed()

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        d: Deferred[Any] = self.controller.stop()
        if d is None:
            return succeed(None)
        return d
