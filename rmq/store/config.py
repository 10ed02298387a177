"""Store configuration: RocketMQ's broker.conf store keys with their 4.9.x defaults.

Fields are snake_case; :meth:`StoreConfig.from_mapping` takes the camelCase names operators
know from broker.conf (strings or typed YAML values) and rejects unknown keys or bad values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import attrs

from rmq.common.config import parse_config_values
from rmq.common.errors import ConfigError

ASYNC_FLUSH = "ASYNC_FLUSH"
SYNC_FLUSH = "SYNC_FLUSH"
CQ_UNIT_SIZE = 20


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_KEY_SPELLING = {"destroy_mapped_file_interval_forcibly": "destroyMapedFileIntervalForcibly"}
"""broker.conf keys RocketMQ's MessageStoreConfig spells unlike their field names."""


@attrs.frozen
class StoreConfig:
    """Settings of one message store (see REFERENCE.md §6 and §11)."""

    store_path_root_dir: str = "~/store"
    store_path_commit_log: str = ""  # empty: <root>/commitlog
    mapped_file_size_commit_log: int = 1024 * 1024 * 1024
    mapped_file_size_consume_queue: int = 300_000 * CQ_UNIT_SIZE
    flush_disk_type: str = ASYNC_FLUSH
    flush_interval_commit_log: int = 500
    flush_commit_log_least_pages: int = 4
    flush_commit_log_thorough_interval: int = 10_000
    flush_interval_consume_queue: int = 1000
    flush_consume_queue_least_pages: int = 2
    flush_consume_queue_thorough_interval: int = 60_000
    sync_flush_timeout: int = 5000
    file_reserved_time: int = 72
    delete_when: str = "04"
    disk_max_used_space_ratio: int = 75
    disk_space_clean_forcibly_ratio: float = 0.85
    disk_space_warning_level_ratio: float = 0.90
    clean_resource_interval: int = 10_000
    delete_commit_log_files_interval: int = 100
    destroy_mapped_file_interval_forcibly: int = 120_000
    max_message_size: int = 4 * 1024 * 1024
    max_hash_slot_num: int = 5_000_000
    max_index_num: int = 20_000_000
    max_msgs_num_batch: int = 64
    default_query_max_num: int = 32
    message_index_enable: bool = True
    check_crc_on_recover: bool = True
    max_transfer_bytes_on_message_in_memory: int = 256 * 1024
    max_transfer_count_on_message_in_memory: int = 32
    access_message_in_memory_max_ratio: int = 40
    broker_role: str = "ASYNC_MASTER"
    preallocate_mapped_files: bool = True

    # --- derived paths -------------------------------------------------------------------

    @property
    def root_dir(self) -> str:
        """The root directory with ``~`` expanded."""
        return os.path.expanduser(self.store_path_root_dir)

    @property
    def commit_log_dir(self) -> str:
        """Directory of the CommitLog files."""
        if self.store_path_commit_log:
            return os.path.expanduser(self.store_path_commit_log)
        return os.path.join(self.root_dir, "commitlog")

    @property
    def consume_queue_dir(self) -> str:
        """Directory holding ``<topic>/<queueId>/`` consume queues."""
        return os.path.join(self.root_dir, "consumequeue")

    @property
    def index_dir(self) -> str:
        """Directory of the IndexFiles."""
        return os.path.join(self.root_dir, "index")

    @property
    def checkpoint_path(self) -> str:
        """The checkpoint file."""
        return os.path.join(self.root_dir, "checkpoint")

    @property
    def abort_path(self) -> str:
        """The abort marker (present while running)."""
        return os.path.join(self.root_dir, "abort")

    @property
    def lock_path(self) -> str:
        """The single-instance lock file."""
        return os.path.join(self.root_dir, "lock")

    @property
    def delete_hours(self) -> frozenset[int]:
        """Hours of the day at which expired files are deleted."""
        return frozenset(int(h) for h in self.delete_when.split(";") if h.strip())

    @property
    def sync_flush(self) -> bool:
        """True when puts wait for their bytes to reach the disk."""
        return self.flush_disk_type == SYNC_FLUSH

    # --- construction from broker.conf-style mappings ----------------------------------

    @classmethod
    def camel_names(cls) -> dict[str, str]:
        """Map of broker.conf camelCase key -> field name."""
        return {_KEY_SPELLING.get(a.name, _camel(a.name)): a.name for a in attrs.fields(cls)}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StoreConfig:
        """Build from camelCase (or snake_case) keys; ConfigError names a bad key or value."""
        kwargs = parse_config_values(cls, values, "store config", cls.camel_names())
        try:
            config = cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise ConfigError(str(e)) from e
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ConfigError for values the store cannot run with."""
        if self.flush_disk_type not in (ASYNC_FLUSH, SYNC_FLUSH):
            raise ConfigError(
                f"flushDiskType must be ASYNC_FLUSH or SYNC_FLUSH, not {self.flush_disk_type!r}"
            )
        positive = (
            "mapped_file_size_commit_log",
            "mapped_file_size_consume_queue",
            "flush_interval_commit_log",
            "flush_interval_consume_queue",
            "sync_flush_timeout",
            "max_message_size",
            "max_hash_slot_num",
            "max_index_num",
            "clean_resource_interval",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{_camel(name)} must be positive")
        if self.mapped_file_size_consume_queue % CQ_UNIT_SIZE:
            raise ConfigError("mappedFileSizeConsumeQueue must be a multiple of 20")
        if self.mapped_file_size_commit_log < 4096:
            raise ConfigError("mappedFileSizeCommitLog must be at least 4096")
        if not 10 <= self.disk_max_used_space_ratio <= 95:
            raise ConfigError("diskMaxUsedSpaceRatio must be within 10..95")
        if not re.fullmatch(r"\s*\d{1,2}(\s*;\s*\d{1,2})*\s*;?\s*", self.delete_when) or any(
            h > 23 for h in self.delete_hours
        ):
            raise ConfigError(
                f"deleteWhen must be hours 0..23 separated by ';', not {self.delete_when!r}"
            )
