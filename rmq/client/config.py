"""Client configuration and the name-server address source (static list or address server).

RocketMQ's address-server behaviour: when no name server is configured, GET an URL such as
``http://host:8080/rocketmq/nsaddr`` that answers ``a:9876;b:9876``, and fetch it again every
two minutes (REFERENCE §7.3).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from rmq.common.errors import ConfigError

_log = Logger()
_instance_counter = itertools.count()

Fetcher = Callable[[str], "Deferred[bytes]"]


@attrs.frozen
class ClientConfig:
    """Settings shared by producers and consumers of one client instance (times in seconds).

    ``namesrv_addr`` is ``"host:port;host:port"``. ``address_server_url`` is used only when
    ``namesrv_addr`` is empty. ``language`` is what requests say they are (JAVA is what brokers
    and tools expect; the broker treats it as information only).
    """

    namesrv_addr: str = ""
    address_server_url: str | None = None
    instance_name: str = "DEFAULT"
    client_ip: str = "127.0.0.1"
    unit_name: str | None = None
    language: str = "JAVA"
    api_timeout: float = 3.0
    poll_name_server_interval: float = 30.0
    heartbeat_broker_interval: float = 30.0
    persist_consumer_offset_interval: float = 5.0
    rebalance_interval: float = 20.0
    address_server_interval: float = 120.0
    connect_timeout: float = 3.0

    def namesrv_list(self) -> list[str]:
        """The configured name-server addresses, in order."""
        return parse_namesrv_list(self.namesrv_addr)


def parse_namesrv_list(text: str) -> list[str]:
    """Split ``a:1;b:2`` (spaces and empty parts ignored)."""
    return [p.strip() for p in text.replace(",", ";").split(";") if p.strip()]


def build_client_id(config: ClientConfig, clock_seconds: float) -> str:
    """``ip@instance[@unit]``; the default instance becomes ``<pid>#<ns>`` as Java 4.9 does."""
    instance = config.instance_name
    if instance == "DEFAULT":
        instance = f"{os.getpid()}#{int(clock_seconds * 1e9) + next(_instance_counter)}"
    cid = f"{config.client_ip}@{instance}"
    if config.unit_name:
        cid += f"@{config.unit_name}"
    return cid


def treq_fetcher(reactor: Any) -> Fetcher:
    """GET with treq on ``reactor``, without keeping the connection (polls are minutes apart)."""

    def get(url: str) -> Deferred[bytes]:
        import treq

        d: Deferred[Any] = treq.get(url, timeout=3, reactor=reactor, persistent=False)
        return d.addCallback(treq.content)

    return get


class NameServerAddresses:
    """Where the name servers are: a fixed list, or an address server polled periodically."""

    def __init__(self, reactor: Any, config: ClientConfig, fetch: Fetcher | None = None) -> None:
        self._reactor = reactor
        self._config = config
        self._fetch = fetch or treq_fetcher(reactor)
        self._addrs = config.namesrv_list()
        self._loop: LoopingCall | None = None
        self._index = 0
        if not self._addrs and not config.address_server_url:
            raise ConfigError("no name server address and no address server URL configured")

    @property
    def addresses(self) -> list[str]:
        """The current list (may be empty until the address server answered)."""
        return list(self._addrs)

    def choose(self) -> list[str]:
        """The addresses rotated so successive calls start at different servers."""
        if not self._addrs:
            return []
        i = self._index % len(self._addrs)
        self._index += 1
        return self._addrs[i:] + self._addrs[:i]

    def start(self) -> Deferred[None]:
        """Fetch once now (address-server mode) and then every ``address_server_interval``."""
        if self._config.namesrv_list() or not self._config.address_server_url:
            return succeed(None)
        loop = LoopingCall(self.refresh)
        loop.clock = self._reactor
        self._loop = loop
        loop.start(self._config.address_server_interval, now=False)
        return self.refresh()

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def refresh(self) -> Deferred[None]:
        """Fetch the list from the address server; keep the old list on any failure."""
        url = self._config.address_server_url
        assert url is not None

        def got(raw: bytes) -> None:
            addrs = parse_namesrv_list(raw.decode("utf-8", "replace"))
            if addrs and addrs != self._addrs:
                _log.info("name server addresses now {addrs}", addrs=addrs)
                self._addrs = addrs

        def failed(f: Any) -> None:
            _log.warn("address server {url} failed: {err}", url=url, err=f.getErrorMessage())

        return self._fetch(url).addCallbacks(got, failed)
