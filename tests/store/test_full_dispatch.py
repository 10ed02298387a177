"""A full disk when a put needs a new ConsumeQueue or index file: refused, nothing half-done."""

from __future__ import annotations

from typing import Any

from rmq.common import message as m
from rmq.common.errors import DiskFullError
from rmq.store import index as index_module
from rmq.store.message_store import GetStatus, MessageStore, PutStatus

from .helpers import StoreTestCase, crash, msg


def _no_space(path: str) -> None:
    raise DiskFullError(f"no space for {path}")


class FullAtDispatchTests(StoreTestCase):
    """ConsumeQueue and index file creation fails before the record is written."""

    def bodies(self, store: MessageStore) -> list[bytes]:
        """Every body served from queue T-0, reading from offset 0 to the end."""
        out: list[bytes] = []
        offset = 0
        while True:
            got = store.get_message("g", "T", 0, offset, 32)
            if got.status is not GetStatus.FOUND:
                self.assertIs(got.status, GetStatus.OFFSET_OVERFLOW_ONE)
                return out
            out.extend(x.body for x in m.decode_messages(b"".join(got.buffers)))
            offset = got.next_begin_offset

    def test_consume_queue_file(self) -> None:
        """The put is refused with no record, no used queue offset; later puts are all served."""
        store = self.open()
        per_file = store.config.mapped_file_size_consume_queue // 20
        sent = [b"m%d" % i for i in range(per_file)]
        for body in sent:
            self.assertIs(store.put_message_nowait(msg(body=body)).status, PutStatus.PUT_OK)
        cq = store.dispatcher.queues[("T", 0)]
        cq.queue.create_hook = _no_space
        end = store.get_max_phy_offset()
        res = store.put_message_nowait(msg(body=b"lost"))
        self.assertIs(res.status, PutStatus.SERVICE_NOT_AVAILABLE)
        self.assertIn("consume queue", res.remark)
        self.assertEqual(store.get_max_phy_offset(), end)
        self.assertIsNone(store.look_message_by_offset(end))
        self.assertEqual(store.get_max_offset_in_queue("T", 0), per_file)
        cq.queue.create_hook = None
        self.clock.advance(10)  # disk check: writable again
        for body in (b"after1", b"after2"):
            res = store.put_message_nowait(msg(body=body))
            self.assertIs(res.status, PutStatus.PUT_OK)
            sent.append(body)
        self.assertEqual(res.queue_offset, per_file + 1)
        self.assertEqual(self.bodies(store), sent)
        crash(store)
        self.assertEqual(self.bodies(self.open()), sent)

    def test_index_file(self) -> None:
        """A put needing a new index file is refused the same way; the index works after."""
        store = self.open()
        index = store.index
        assert index is not None
        sent: list[bytes] = []
        while (index.files and index.files[-1].index_count < index.entries - 3) or not sent:
            body = b"k%d" % len(sent)
            res = store.put_message_nowait(msg(body=body, props="KEYS\x01a b"))
            self.assertIs(res.status, PutStatus.PUT_OK)
            sent.append(body)
        real = index_module.IndexFile

        def failing(*a: Any, **kw: Any) -> Any:
            raise DiskFullError("no space for an index file")

        self.patch(index_module, "IndexFile", failing)
        end = store.get_max_phy_offset()
        res = store.put_message_nowait(msg(body=b"lost", props="KEYS\x01a b c d"))
        self.assertIs(res.status, PutStatus.SERVICE_NOT_AVAILABLE)
        self.assertIn("index file", res.remark)
        self.assertEqual(store.get_max_phy_offset(), end)
        self.assertEqual(store.get_max_offset_in_queue("T", 0), len(sent))
        self.patch(index_module, "IndexFile", real)
        self.clock.advance(10)
        res = store.put_message_nowait(msg(body=b"after", props="KEYS\x01a b c d"))
        self.assertIs(res.status, PutStatus.PUT_OK)
        sent.append(b"after")
        self.assertEqual(self.bodies(store), sent)
        found = store.query_message("T", "d", 10, 0, 2**62)
        self.assertEqual([x.body for x in m.decode_messages(b"".join(found))], [b"after"])

    def test_spare_left_by_crash(self) -> None:
        """A ConsumeQueue file made ahead but never written, left by a crash, is harmless."""
        store = self.open()
        per_file = store.config.mapped_file_size_consume_queue // 20
        sent = [b"m%d" % i for i in range(per_file)]
        for body in sent:
            store.put_message_nowait(msg(body=body))
        cq = store.dispatcher.queues[("T", 0)]
        cq.ensure_room(per_file, 1)
        spare = cq.queue.spares[0]
        cq.queue.spares = []  # a crash leaves it on disk
        spare.close()
        crash(store)
        store2 = self.open()
        self.assertEqual(store2.get_max_offset_in_queue("T", 0), per_file)
        res = store2.put_message_nowait(msg(body=b"next"))
        self.assertEqual((res.status, res.queue_offset), (PutStatus.PUT_OK, per_file))
        self.assertEqual(self.bodies(store2), [*sent, b"next"])
