"""Registration with every name server: at start, every 30 s, oneway on topic changes.

Each round sends REGISTER_BROKER (all topic configs + data version) to every configured name
server in parallel. A failing name server is logged and tried again next round; the
LoopingCall's function never raises, so the loop cannot die. A clean stop sends
UNREGISTER_BROKER to each name server.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.broker.topics import PERM_READ, PERM_WRITE
from rmq.common import fastjson
from rmq.headers import RegisterBrokerRequestHeader, UnRegisterBrokerRequestHeader
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController

__all__ = ["BrokerRegistration"]

_log = Logger()


class BrokerRegistration:
    """Keeps this broker registered with all name servers."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        self._loop: LoopingCall | None = None
        self.rounds = 0
        self.failures = 0
        self.last_ok: dict[str, float] = {}

    # --- request building --------------------------------------------------------------

    def _ha_addr(self) -> str:
        cfg = self.broker.config
        return f"{cfg.broker_ip2}:{cfg.ha_listen_port}"

    def body(self) -> bytes:
        """REGISTER_BROKER body: every topic config; perms capped by the broker's own."""
        broker = self.broker
        wrapper = broker.topics.wrapper_json_dict()
        perm = broker.config.broker_permission
        if perm & (PERM_READ | PERM_WRITE) != PERM_READ | PERM_WRITE:
            for tc in wrapper["topicConfigTable"].values():
                tc["perm"] = perm
        obj = {"filterServerList": [], "topicConfigSerializeWrapper": wrapper}
        return fastjson.dumpb(obj)

    def register_command(self, oneway: bool = False) -> RemotingCommand:
        cfg = self.broker.config
        body = self.body()
        header = RegisterBrokerRequestHeader(
            brokerName=cfg.broker_name,
            brokerAddr=self.broker.address,
            clusterName=cfg.broker_cluster_name,
            haServerAddr=self._ha_addr(),
            brokerId=cfg.broker_id,
            compressed=False,
            bodyCrc32=zlib.crc32(body) & 0x7FFFFFFF,
        )
        return RemotingCommand.request(
            RequestCode.REGISTER_BROKER, header.to_ext(), body, oneway=oneway
        )

    # --- rounds --------------------------------------------------------------------------

    def start(self) -> None:
        """Register now and then every ``registerNameServerPeriod`` (clamped 10-60 s)."""
        self.broker.topics.add_listener(self._topic_changed)
        loop = LoopingCall(self.register_all)
        loop.clock = self.broker.clock
        d = loop.start(self.broker.config.register_period, now=True)
        d.addErrback(lambda f: _log.failure("registration loop stopped", f))
        self._loop = loop

    def register_all(self) -> Deferred[Any]:
        """One round to every name server; never fails (errors are logged)."""
        self.rounds += 1
        try:
            cmd_template = self.register_command()
        except Exception:
            _log.failure("building REGISTER_BROKER failed")
            self.failures += 1
            d: Deferred[Any] = Deferred()
            d.callback(None)
            return d
        timeout = self.broker.config.register_broker_timeout_mills / 1000.0
        calls = []
        for addr in self.broker.config.namesrv_list:
            cmd = RemotingCommand.request(
                cmd_template.code, cmd_template.ext_fields, cmd_template.body
            )
            call = self.broker.namesrv_client.invoke(addr, cmd, timeout)
            call.addCallback(self._registered, addr)
            call.addErrback(self._failed, addr)
            calls.append(call)
        return DeferredList(calls, consumeErrors=True)

    def _registered(self, response: RemotingCommand, addr: str) -> None:
        if response.code != 0:
            self.failures += 1
            _log.warn(
                "name server {a} refused registration: {c} {r}",
                a=addr,
                c=response.code,
                r=response.remark,
            )
            return
        self.last_ok[addr] = self.broker.clock.seconds()

    def _failed(self, failure: Any, addr: str) -> None:
        self.failures += 1
        _log.warn(
            "registering with name server {a} failed: {e}", a=addr, e=failure.getErrorMessage()
        )

    def _topic_changed(self, _tc: Any) -> None:
        """A topic was created/changed/deleted: tell every name server now (oneway)."""
        if self._loop is None:
            return
        try:
            for addr in self.broker.config.namesrv_list:
                d = self.broker.namesrv_client.invoke_oneway(addr, self.register_command(True))
                d.addErrback(_warn, "oneway registration to {a} failed: {e}", addr)
        except Exception:
            _log.failure("oneway registration failed")

    def stop(self) -> Deferred[Any]:
        """Stop the loop and unregister from every name server (best effort)."""
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        cfg = self.broker.config
        header = UnRegisterBrokerRequestHeader(
            brokerName=cfg.broker_name,
            brokerAddr=self.broker.address,
            clusterName=cfg.broker_cluster_name,
            brokerId=cfg.broker_id,
        )
        calls = []
        for addr in cfg.namesrv_list:
            cmd = RemotingCommand.request(RequestCode.UNREGISTER_BROKER, header.to_ext())
            call = self.broker.namesrv_client.invoke(addr, cmd, 3.0)
            call.addErrback(_warn, "unregister from {a} failed: {e}", addr)
            calls.append(call)
        return DeferredList(calls, consumeErrors=True)


def _warn(failure: Failure, fmt: str, addr: str) -> None:
    _log.warn(fmt, a=addr, e=failure.getErrorMessage())
