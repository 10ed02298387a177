"""The broker's consumer-group table (``subscriptionGroup.json``), as RocketMQ 4.9 keeps it.

Built-in tool groups exist from the start; a group the broker has not seen is created with
defaults on first use when ``autoCreateSubscriptionGroup`` is on (or it is a system group).
Every change bumps the DataVersion and is persisted in the background.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from rmq.broker.persist import (
    Runner,
    VersionedConfigTable,
    synchronous_runner,
)

if TYPE_CHECKING:
    from rmq.broker.config import BrokerConfig

__all__ = ["BUILTIN_GROUPS", "SubscriptionGroupConfig", "SubscriptionGroupManager"]

SYS_CONSUMER_GROUP_PREFIX = "CID_RMQ_SYS_"
GROUP_MAX_LENGTH = 255
_LEGAL = re.compile(r"^[%|a-zA-Z0-9_-]+$")

TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
FILTERSRV_CONSUMER_GROUP = "FILTERSRV_CONSUMER"
SELF_TEST_CONSUMER_GROUP = "SELF_TEST_C_GROUP"
ONS_HTTP_PROXY_GROUP = "CID_ONS-HTTP-PROXY"
ONSAPI_PULL_GROUP = "CID_ONSAPI_PULL"
ONSAPI_PERMISSION_GROUP = "CID_ONSAPI_PERMISSION"
ONSAPI_OWNER_GROUP = "CID_ONSAPI_OWNER"

BUILTIN_GROUPS = (
    TOOLS_CONSUMER_GROUP,
    FILTERSRV_CONSUMER_GROUP,
    SELF_TEST_CONSUMER_GROUP,
    ONS_HTTP_PROXY_GROUP,
    ONSAPI_PULL_GROUP,
    ONSAPI_PERMISSION_GROUP,
    ONSAPI_OWNER_GROUP,
)

_log = Logger()


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


@attrs.define
class SubscriptionGroupConfig:
    """One consumer group's broker-side settings (Java SubscriptionGroupConfig)."""

    group_name: str
    consume_enable: bool = True
    consume_from_min_enable: bool = True
    consume_broadcast_enable: bool = True
    retry_queue_nums: int = 1
    retry_max_times: int = 16
    broker_id: int = 0
    which_broker_when_consume_slowly: int = 1
    notify_consumer_ids_changed_enable: bool = True

    def to_json_dict(self) -> dict[str, Any]:
        """The Java field names, as in subscriptionGroup.json."""
        return {
            "brokerId": self.broker_id,
            "consumeBroadcastEnable": self.consume_broadcast_enable,
            "consumeEnable": self.consume_enable,
            "consumeFromMinEnable": self.consume_from_min_enable,
            "groupName": self.group_name,
            "notifyConsumerIdsChangedEnable": self.notify_consumer_ids_changed_enable,
            "retryMaxTimes": self.retry_max_times,
            "retryQueueNums": self.retry_queue_nums,
            "whichBrokerWhenConsumeSlowly": self.which_broker_when_consume_slowly,
        }

    @classmethod
    def from_json_dict(
        cls, d: Mapping[Any, Any], name: str | None = None
    ) -> SubscriptionGroupConfig:
        """Parse the Java form (missing fields take Java's defaults)."""
        return cls(
            group_name=str(d.get("groupName") or name or ""),
            consume_enable=_bool(d.get("consumeEnable"), True),
            consume_from_min_enable=_bool(d.get("consumeFromMinEnable"), True),
            consume_broadcast_enable=_bool(d.get("consumeBroadcastEnable"), True),
            retry_queue_nums=int(d.get("retryQueueNums", 1)),
            retry_max_times=int(d.get("retryMaxTimes", 16)),
            broker_id=int(d.get("brokerId", 0)),
            which_broker_when_consume_slowly=int(d.get("whichBrokerWhenConsumeSlowly", 1)),
            notify_consumer_ids_changed_enable=_bool(d.get("notifyConsumerIdsChangedEnable"), True),
        )


def is_sys_consumer_group(group: str) -> bool:
    """Groups RocketMQ creates even when auto-creation is off."""
    return group.startswith(SYS_CONSUMER_GROUP_PREFIX)


def is_legal_group(group: str) -> bool:
    """Name rule for groups the broker creates on its own."""
    return 0 < len(group) <= GROUP_MAX_LENGTH and bool(_LEGAL.match(group))


class SubscriptionGroupManager(VersionedConfigTable[SubscriptionGroupConfig]):
    """All consumer-group configs of this broker, persisted to ``path``."""

    table_key = "subscriptionGroupTable"
    what = "subscription group config"

    def __init__(
        self,
        path: str,
        config: BrokerConfig,
        clock: IReactorTime,
        runner: Runner = synchronous_runner,
    ) -> None:
        super().__init__(path, clock, runner)
        self.config = config
        for group in BUILTIN_GROUPS:
            broadcast = group in (ONS_HTTP_PROXY_GROUP, ONSAPI_PULL_GROUP)
            self._table[group] = SubscriptionGroupConfig(group, consume_broadcast_enable=broadcast)

    # --- persistence -------------------------------------------------------------

    def item_from_obj(
        self, obj: Mapping[Any, Any], name: str
    ) -> tuple[str, SubscriptionGroupConfig]:
        cfg = SubscriptionGroupConfig.from_json_dict(obj, name)
        return cfg.group_name, cfg

    def item_to_obj(self, item: SubscriptionGroupConfig) -> dict[str, Any]:
        return item.to_json_dict()

    def _changed(self) -> None:
        self._bump()

    # --- queries and changes ---------------------------------------------------------

    def get(self, group: str) -> SubscriptionGroupConfig | None:
        return self._table.get(group)

    def all(self) -> dict[str, SubscriptionGroupConfig]:
        """A snapshot of the table (group name -> config)."""
        return dict(self._table)

    def find_or_create(self, group: str) -> SubscriptionGroupConfig | None:
        """The group's config, auto-created with defaults when allowed; None otherwise."""
        cfg = self._table.get(group)
        if cfg is not None:
            return cfg
        if not (self.config.auto_create_subscription_group or is_sys_consumer_group(group)):
            return None
        if not is_legal_group(group):
            return None
        cfg = SubscriptionGroupConfig(group)
        self._table[group] = cfg
        _log.info("auto-created subscription group {g}", g=group)
        self._changed()
        return cfg

    def update(self, cfg: SubscriptionGroupConfig) -> None:
        """Create or replace a group's config (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)."""
        self._table[cfg.group_name] = cfg
        self._changed()

    def delete(self, group: str) -> bool:
        """Remove a group's config; True when it existed."""
        if self._table.pop(group, None) is None:
            return False
        self._changed()
        return True

    def retry_max_times(self, group: str) -> int:
        """The group's maximum reconsume count (16 for unknown groups)."""
        cfg = self._table.get(group)
        return cfg.retry_max_times if cfg is not None else 16
