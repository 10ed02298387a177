"""Producer and consumer channel tables: who is connected, in which group, subscribed to what.

Channels are the remoting connections clients heartbeat on. A channel silent for
``channelExpiredTimeout`` (120 s) is closed and dropped by a periodic scan; a closed connection is
dropped at once. When a consumer group's membership or topic set changes, every consumer of the
group gets NOTIFY_CONSUMER_IDS_CHANGED (oneway) so it rebalances now instead of in 20 s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from rmq.broker.config import BrokerConfig
from rmq.broker.heartbeat import ConsumerData
from rmq.filter.tags import SubscriptionData
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand

__all__ = ["ClientChannelInfo", "ConsumerGroupInfo", "ConsumerManager", "ProducerManager"]

_log = Logger()


@attrs.define(eq=False)
class ClientChannelInfo:
    """One client connection within a group."""

    connection: Any
    client_id: str
    language: str
    version: int
    last_update: float

    @property
    def address(self) -> str:
        return str(getattr(self.connection, "peer", "?"))


@attrs.define(eq=False)
class ConsumerGroupInfo:
    """A consumer group: its channels and the union of their subscriptions."""

    group: str
    consume_type: str
    message_model: str
    consume_from_where: str
    channels: dict[Any, ClientChannelInfo] = attrs.field(factory=dict)
    subscriptions: dict[str, SubscriptionData] = attrs.field(factory=dict)
    last_update: float = 0.0

    def client_ids(self) -> list[str]:
        return [c.client_id for c in self.channels.values()]

    def update_subscriptions(self, subs: list[SubscriptionData]) -> bool:
        """Merge a heartbeat's subscriptions; True when the topic set changed.

        A newer ``subVersion`` replaces the stored copy; topics missing from the heartbeat
        are dropped (like Java's ``updateSubscription``).
        """
        changed = False
        seen: set[str] = set()
        for sub in subs:
            seen.add(sub.topic)
            old = self.subscriptions.get(sub.topic)
            if old is None:
                self.subscriptions[sub.topic] = sub
                changed = True
            elif sub.sub_version > old.sub_version:
                self.subscriptions[sub.topic] = sub
        for topic in [t for t in self.subscriptions if t not in seen]:
            del self.subscriptions[topic]
            changed = True
        return changed


class _ChannelScanner:
    """Runs ``scan`` every ``interval`` seconds on the clock; a failing scan is only logged."""

    def __init__(self, clock: Any, config: BrokerConfig) -> None:
        self.clock = clock
        self.config = config
        self._loop: LoopingCall | None = None

    @property
    def expiry(self) -> float:
        return self.config.channel_expired_timeout / 1000.0

    def start(self) -> None:
        loop = LoopingCall(self._safe_scan)
        loop.clock = self.clock
        loop.start(self.config.client_channel_scan_interval / 1000.0, now=False)
        self._loop = loop

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _safe_scan(self) -> None:
        try:
            self.scan()
        except Exception:
            _log.failure("client channel scan failed")

    def scan(self) -> None:
        raise NotImplementedError


class ProducerManager(_ChannelScanner):
    """Producer channels by group (for transaction checks and admin listings)."""

    def __init__(self, clock: Any, config: BrokerConfig) -> None:
        super().__init__(clock, config)
        self.groups: dict[str, dict[Any, ClientChannelInfo]] = {}

    def register(self, group: str, info: ClientChannelInfo) -> None:
        """Add or refresh a producer channel."""
        channels = self.groups.setdefault(group, {})
        old = channels.get(info.connection)
        if old is None:
            channels[info.connection] = info
        else:
            old.last_update = info.last_update
            old.client_id = info.client_id

    def unregister(self, group: str, connection: Any) -> None:
        channels = self.groups.get(group)
        if channels is not None:
            channels.pop(connection, None)
            if not channels:
                del self.groups[group]

    def connection_lost(self, connection: Any) -> None:
        for group in list(self.groups):
            self.unregister(group, connection)

    def get(self, group: str) -> list[ClientChannelInfo]:
        return list(self.groups.get(group, {}).values())

    def scan(self) -> None:
        """Close and drop channels silent for longer than the expiry."""
        deadline = self.clock.seconds() - self.expiry
        for group in list(self.groups):
            for conn, info in list(self.groups.get(group, {}).items()):
                if info.last_update < deadline:
                    _log.info("producer channel {a} of {g} expired", a=info.address, g=group)
                    self.unregister(group, conn)
                    _close(conn)


class ConsumerManager(_ChannelScanner):
    """Consumer groups: channels, subscriptions, and membership-change notifications."""

    def __init__(
        self,
        clock: Any,
        config: BrokerConfig,
        notify_enabled: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(clock, config)
        self.groups: dict[str, ConsumerGroupInfo] = {}
        self.notify_enabled = notify_enabled
        """Per-group switch (the group's notifyConsumerIdsChangedEnable); None means on."""
        self.notifications = 0

    def get(self, group: str) -> ConsumerGroupInfo | None:
        return self.groups.get(group)

    def find_subscription(self, group: str, topic: str) -> SubscriptionData | None:
        info = self.groups.get(group)
        return None if info is None else info.subscriptions.get(topic)

    def register(self, data: ConsumerData, info: ClientChannelInfo) -> bool:
        """Record a consumer heartbeat; notify the group when channels or topics changed."""
        group = self.groups.get(data.group_name)
        if group is None:
            group = ConsumerGroupInfo(
                data.group_name, data.consume_type, data.message_model, data.consume_from_where
            )
            self.groups[data.group_name] = group
        group.consume_type = data.consume_type
        group.message_model = data.message_model
        group.consume_from_where = data.consume_from_where
        group.last_update = info.last_update
        old = group.channels.get(info.connection)
        new_channel = old is None
        if old is None:
            group.channels[info.connection] = info
        else:
            old.last_update = info.last_update
            old.client_id = info.client_id
        topics_changed = group.update_subscriptions(data.subscriptions)
        changed = new_channel or topics_changed
        if changed:
            self._notify(group)
        return changed

    def unregister(self, group_name: str, connection: Any) -> bool:
        """Remove one channel from a group; True when it was there."""
        group = self.groups.get(group_name)
        if group is None or group.channels.pop(connection, None) is None:
            return False
        if group.channels:
            self._notify(group)
        else:
            del self.groups[group_name]
        return True

    def connection_lost(self, connection: Any) -> None:
        """Drop a closed connection from every group it was in."""
        for name in list(self.groups):
            self.unregister(name, connection)

    def scan(self) -> None:
        """Close and drop channels silent for longer than the expiry."""
        deadline = self.clock.seconds() - self.expiry
        for name in list(self.groups):
            group = self.groups.get(name)
            if group is None:
                continue
            for conn, info in list(group.channels.items()):
                if info.last_update < deadline:
                    _log.info("consumer channel {a} of {g} expired", a=info.address, g=name)
                    self.unregister(name, conn)
                    _close(conn)

    def _notify(self, group: ConsumerGroupInfo) -> None:
        if not self.config.notify_consumer_ids_changed_enable:
            return
        if self.notify_enabled is not None and not self.notify_enabled(group.group):
            return
        self.notifications += 1
        for conn in list(group.channels):
            cmd = RemotingCommand.request(
                RequestCode.NOTIFY_CONSUMER_IDS_CHANGED,
                {"consumerGroup": group.group},
                oneway=True,
            )
            try:
                d = conn.invoke_oneway(cmd)
            except Exception:
                _log.failure("notify of {g} failed", g=group.group)
                continue
            d.addErrback(lambda f: _log.debug("notify failed: {e}", e=f.getErrorMessage()))


def _close(conn: Any) -> None:
    close = getattr(conn, "close", None)
    if close is not None:
        close()
