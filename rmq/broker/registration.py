"""Registration with every name server: at start, every 30 s, and at once on topic changes.

Each round sends REGISTER_BROKER (all topic configs + data version) to every configured name
server in parallel. With ``forceRegister=false`` a round first asks every name server
QUERY_DATA_VERSION and registers (with all of them) only if one reports a change, fails or
holds another version, as RocketMQ's ``needRegister`` does; an unchanged answer already
refreshes the broker's liveness there. A failing name server is logged and tried again next
round; the LoopingCall's function never raises, so the loop cannot die. A clean stop sends
UNREGISTER_BROKER to each name server.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from rmq.broker.topics import PERM_READ, PERM_WRITE
from rmq.common import fastjson
from rmq.common.route import DataVersion
from rmq.headers import (
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    UnRegisterBrokerRequestHeader,
)
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController

__all__ = ["BrokerRegistration"]

_log = Logger()

ANNOUNCE_WAIT = 1.0
"""Longest a send that created its topic, or a topic update, waits for the name servers."""


class BrokerRegistration:
    """Keeps this broker registered with all name servers."""

    def __init__(self, broker: BrokerController) -> None:
        self.broker = broker
        self._loop: LoopingCall | None = None
        self.rounds = 0
        self.skipped = 0
        """Rounds not sent because every name server held the current data version."""
        self.failures = 0
        self.last_ok: dict[str, float] = {}
        self._announcing: Deferred[Any] | None = None

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
        loop = LoopingCall(self.round)
        loop.clock = self.broker.clock
        d = loop.start(self.broker.config.register_period, now=True)
        d.addErrback(lambda f: _log.failure("registration loop stopped", f))
        self._loop = loop

    def query_command(self) -> RemotingCommand:
        """QUERY_DATA_VERSION carrying the topic table's data version."""
        cfg = self.broker.config
        header = QueryDataVersionRequestHeader(
            brokerName=cfg.broker_name,
            brokerAddr=self.broker.address,
            clusterName=cfg.broker_cluster_name,
            brokerId=cfg.broker_id,
        )
        body = self.broker.topics.data_version.to_json()
        return RemotingCommand.request(RequestCode.QUERY_DATA_VERSION, header.to_ext(), body)

    def round(self) -> Deferred[Any]:
        """One periodic round: register, or with forceRegister=false only when needed.

        The first round always registers, as RocketMQ's start-up does.
        """
        if self.broker.config.force_register or self.rounds == 0:
            return self.register_all()
        d = self.need_register()
        d.addCallback(self._register_if_needed)
        return d

    def need_register(self) -> Deferred[bool]:
        """Fires True when any name server answers changed, fails, or has another version."""
        timeout = self.broker.config.register_broker_timeout_mills / 1000.0
        calls = []
        for addr in self.broker.config.namesrv_list:
            call = self.broker.namesrv_client.invoke(addr, self.query_command(), timeout)
            call.addCallbacks(self._version_changed, self._query_failed, errbackArgs=(addr,))
            calls.append(call)
        d = DeferredList(calls, consumeErrors=True)
        return d.addCallback(lambda results: any(ok and changed for ok, changed in results))

    def _version_changed(self, response: RemotingCommand) -> bool:
        if response.code != 0:
            return False
        try:
            changed = QueryDataVersionResponseHeader.from_ext(response.ext_fields).changed
            if response.body:
                theirs = DataVersion.from_json(response.body)
                changed = changed or theirs != self.broker.topics.data_version
        except Exception:
            _log.failure("unreadable QUERY_DATA_VERSION answer; registering")
            return True
        return bool(changed)

    def _query_failed(self, failure: Failure, addr: str) -> bool:
        _log.warn("QUERY_DATA_VERSION to {a} failed: {e}", a=addr, e=failure.getErrorMessage())
        return True

    def _register_if_needed(self, needed: bool) -> Deferred[Any] | None:
        if needed:
            return self.register_all()
        self.skipped += 1
        return None

    def register_all(self) -> Deferred[Any]:
        """One round to every name server; never fails (errors are logged)."""
        self.rounds += 1
        return self._register_everywhere()

    def _register_everywhere(self) -> Deferred[Any]:
        """REGISTER_BROKER to every name server; fires when all answered or failed."""
        try:
            cmd_template = self.register_command()
        except Exception:
            _log.failure("building REGISTER_BROKER failed")
            self.failures += 1
            return succeed(None)
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
        """A topic was created, changed or deleted: register with every name server now.

        Two-way (RocketMQ sends a oneway one when a send auto-creates a topic), so that
        :meth:`announced` can tell when the name servers route the topic.
        """
        if self._loop is None:
            return
        d = self._register_everywhere()
        self._announcing = d
        d.addBoth(self._announced, d)

    def _announced(self, result: Any, d: Deferred[Any]) -> Any:
        if self._announcing is d:
            self._announcing = None
        return result

    def announced(self, max_wait: float | None = None) -> Deferred[None]:
        """Fires once the latest topic change reached every name server (answered or failed),
        or after ``max_wait`` seconds, whichever comes first. Never fails.

        A send that created its topic and UPDATE_AND_CREATE_TOPIC are answered after this
        (waiting at most :data:`ANNOUNCE_WAIT`, well inside clients' 3-5 s timeouts, so a
        silent name server cannot make them fail), so a client told "ok" normally finds the
        topic's route at once. RocketMQ answers first and registers after, which leaves the
        race that once failed this project's README flow in CI.
        """
        pending = self._announcing
        if pending is None:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        timer = None
        if max_wait is not None:
            timer = self.broker.clock.callLater(max_wait, waiter.callback, None)

        def release(result: Any) -> Any:
            if timer is None:
                waiter.callback(None)
            elif timer.active():
                timer.cancel()
                waiter.callback(None)
            return result

        pending.addBoth(release)
        return waiter

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
