"""Consumer offset stores: on the broker (clustering) or in a local file (broadcasting).

Both keep the table in memory; ``persist`` pushes it out. The local file has Java's shape
(``{"offsetTable":{<MessageQueue object>:offset}}`` under ``<dir>/<clientId>/<group>/``) and is
written from a thread through the injected ``runner``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from zope.interface import implementer

from rmq.client.interfaces import IOffsetStore
from rmq.client.model import MessageQueue
from rmq.common import fastjson

_log = Logger()

Runner = Callable[[Callable[[], Any]], "Deferred[Any]"]


class ReadOffsetType(enum.Enum):
    MEMORY = "MEMORY"
    STORE = "STORE"
    MEMORY_FIRST_THEN_STORE = "MEMORY_FIRST_THEN_STORE"


class _MemoryTable:
    def __init__(self) -> None:
        self._table: dict[MessageQueue, int] = {}

    def update(self, mq: MessageQueue, offset: int, increase_only: bool = False) -> None:
        """Set an offset (``increase_only``: never move it backwards)."""
        old = self._table.get(mq)
        if old is None or not increase_only or offset > old:
            self._table[mq] = offset

    def remove(self, mq: MessageQueue) -> None:
        self._table.pop(mq, None)

    def get(self, mq: MessageQueue) -> int | None:
        """The in-memory offset of one queue (no copy; used on every pull)."""
        return self._table.get(mq)

    def table(self) -> dict[MessageQueue, int]:
        return dict(self._table)


@implementer(IOffsetStore)
class RemoteBrokerOffsetStore(_MemoryTable):
    """Clustering: offsets live on the queue's master broker (QUERY/UPDATE_CONSUMER_OFFSET)."""

    def __init__(self, instance: Any, group: str) -> None:
        super().__init__()
        self._instance = instance
        self._group = group

    def load(self) -> Deferred[None]:
        return succeed(None)

    def read(self, mq: MessageQueue, how: ReadOffsetType) -> Deferred[int]:
        """The offset from memory and/or the broker; -1 when nobody stored one."""
        if how is not ReadOffsetType.STORE:
            known = self._table.get(mq)
            if known is not None or how is ReadOffsetType.MEMORY:
                return succeed(-1 if known is None else known)
        return Deferred.fromCoroutine(self._read_store(mq))

    async def _master(self, mq: MessageQueue) -> str | None:
        addr: str | None = self._instance.master_addr(mq.broker_name)
        if addr is None:
            try:
                await self._instance.update_route(mq.topic)
            except Exception as e:
                _log.warn("route of {t}: {e}", t=mq.topic, e=e)
            addr = self._instance.master_addr(mq.broker_name)
        return addr

    async def _read_store(self, mq: MessageQueue) -> int:
        addr = await self._master(mq)
        if addr is None:
            return -1
        offset: int = await self._instance.api.query_consumer_offset(
            addr, self._group, mq, self._instance.config.api_timeout
        )
        if offset >= 0:
            self.update(mq, offset)
        return offset

    def persist(self, mqs: Iterable[MessageQueue]) -> Deferred[None]:
        """UPDATE_CONSUMER_OFFSET for every queue in ``mqs`` with a known offset."""
        return Deferred.fromCoroutine(self._persist(list(mqs)))

    async def _persist(self, mqs: list[MessageQueue]) -> None:
        calls = []
        for mq in mqs:
            offset = self._table.get(mq)
            if offset is None:
                continue
            addr = await self._master(mq)
            if addr is None:
                continue
            d = self._instance.api.update_consumer_offset(
                addr, self._group, mq, offset, self._instance.config.api_timeout
            )
            calls.append(d.addErrback(lambda f, q=mq: _log.warn("persist {q}: {e}", q=q, e=f)))
        await DeferredList(calls)


def thread_runner(reactor: Any) -> Runner:
    """Run blocking file work in the reactor's thread pool."""

    def run(fn: Callable[[], Any]) -> Deferred[Any]:
        return deferToThreadPool(reactor, reactor.getThreadPool(), fn)

    return run


def sync_runner(fn: Callable[[], Any]) -> Deferred[Any]:
    """Run file work inline (tests)."""
    try:
        return succeed(fn())
    except Exception as e:
        d: Deferred[Any] = Deferred()
        d.errback(e)
        return d


def default_offsets_dir() -> str:
    """Java's default ``~/.rocketmq_offsets``."""
    return os.path.join(os.path.expanduser("~"), ".rocketmq_offsets")


@implementer(IOffsetStore)
class LocalFileOffsetStore(_MemoryTable):
    """Broadcasting: offsets in ``<base_dir>/<client_id>/<group>/offsets.json``."""

    def __init__(self, base_dir: str, client_id: str, group: str, runner: Runner) -> None:
        super().__init__()
        safe_cid = client_id.replace(os.sep, "_")
        self.path = os.path.join(base_dir, safe_cid, group, "offsets.json")
        self._runner = runner

    def load(self) -> Deferred[None]:
        """Read the file (or its ``.bak``) if present."""

        def read() -> dict[MessageQueue, int]:
            for path in (self.path, self.path + ".bak"):
                try:
                    with open(path, "rb") as f:
                        return decode_offsets(f.read())
                except FileNotFoundError:
                    continue
                except (ValueError, KeyError, TypeError) as e:
                    _log.warn("bad offsets file {p}: {e}", p=path, e=e)
            return {}

        return self._runner(read).addCallback(self._table.update)

    def read(self, mq: MessageQueue, how: ReadOffsetType) -> Deferred[int]:
        known = self._table.get(mq)
        return succeed(-1 if known is None else known)

    def persist(self, mqs: Iterable[MessageQueue]) -> Deferred[None]:
        """Write the offsets of ``mqs`` (atomically: temp file, fsync, rename)."""
        wanted = set(mqs)
        data = encode_offsets({q: o for q, o in self._table.items() if q in wanted})
        path = self.path

        def write() -> None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if os.path.exists(path):
                os.replace(path, path + ".bak")
            os.replace(tmp, path)

        return self._runner(write).addCallback(lambda _: None)


def encode_offsets(table: dict[MessageQueue, int]) -> bytes:
    """OffsetSerializeWrapper JSON with MessageQueue object keys, as fastjson writes it."""
    return fastjson.dumpb(
        {"offsetTable": {fastjson.ObjectKey.of(q.to_obj()): o for q, o in table.items()}}
    )


def decode_offsets(raw: bytes) -> dict[MessageQueue, int]:
    """Inverse of :func:`encode_offsets`."""
    obj = fastjson.loads(raw)
    out: dict[MessageQueue, int] = {}
    for key, value in (obj.get("offsetTable") or {}).items():
        if isinstance(key, fastjson.ObjectKey):
            out[MessageQueue.from_obj(key.as_dict())] = int(value)
    return out
