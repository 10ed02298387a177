"""The fast put path: records equal the reference encoder's bytes, new entry points, faults."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from rmq.common import message as m
from rmq.store.format import index_key_hash
from rmq.store.index import _key_hash
from rmq.store.message_store import GetStatus, MessageStore, MessageToStore, PutResult, PutStatus

from .helpers import ManualRunner, StoreTestCase, msg


class Base(StoreTestCase):
    """A fresh store per test, shut down afterwards."""


def _reference(store: MessageStore, mt: MessageToStore, result: PutResult, i: int = 0) -> bytes:
    """The record as encode_message_ext writes it, from the put's own offsets."""
    ext = m.MessageExt(
        topic=mt.topic,
        body=mt.body,
        queue_id=mt.queue_id,
        flag=mt.flag,
        properties=mt.properties,
        queue_offset=result.queue_offset + i,
        commit_log_offset=result.wrote_offset,
        sys_flag=mt.sys_flag,
        born_timestamp=mt.born_timestamp,
        born_host=mt.born_host,
        store_timestamp=result.store_timestamp,
        store_host=mt.store_host or store.store_host,
        reconsume_times=mt.reconsume_times,
        prepared_transaction_offset=mt.prepared_transaction_offset,
    )
    return m.encode_message_ext(ext)


class RecordBytesTests(Base):
    """Direct-to-mmap encoding writes the same bytes as the reference encoder."""

    def test_ipv4_and_ipv6_hosts(self) -> None:
        """All four born/store host family mixes give reference-identical records."""
        store = self.open()
        for born in (("10.0.0.2", 5555), ("::1", 6666)):
            for sh in (None, ("fe80::2", 7777), ("10.1.1.1", 10911)):
                mt = MessageToStore(
                    topic="T",
                    queue_id=0,
                    body=b"body",
                    flag=7,
                    properties="TAGS\x01x\x02KEYS\x01a b",
                    born_timestamp=123,
                    born_host=born,
                    store_host=sh,
                    reconsume_times=2,
                    prepared_transaction_offset=9,
                )
                res = store.put_message_nowait(mt)
                self.assertIs(res.status, PutStatus.PUT_OK)
                rec = store.commitlog.get_record(res.wrote_offset)
                assert rec is not None
                self.assertEqual(bytes(rec), _reference(store, mt, res))
                host = sh or store.store_host
                self.assertEqual(
                    res.msg_ids, [m.create_offset_msg_id(host[0], host[1], res.wrote_offset)]
                )

    def test_batch_one_append(self) -> None:
        """A batch is contiguous, each record reference-identical, ids per record."""
        store = self.open()
        msgs = [msg(body=b"x" * i, props=f"KEYS\x01k{i}") for i in range(1, 6)]
        res = store.put_messages_nowait(msgs)
        self.assertEqual((res.msg_num, len(res.msg_ids)), (5, 5))
        off = res.wrote_offset
        for i, mt in enumerate(msgs):
            rec = store.commitlog.get_record(off)
            assert rec is not None
            one = PutResult(PutStatus.PUT_OK, off, 0, [], res.queue_offset, 1, res.store_timestamp)
            self.assertEqual(bytes(rec), _reference(store, mt, one, i))
            self.assertEqual(res.msg_ids[i], m.create_offset_msg_id("127.0.0.1", 10911, off))
            off += len(rec)
        self.assertEqual(off, res.wrote_offset + res.wrote_bytes)

    def test_bad_field_leaves_nothing(self) -> None:
        """A value that cannot be encoded refuses the put and leaves zeros, not a half batch."""
        store = self.open()
        bad = msg(body=b"second")
        bad.flag = 2**40
        res = store.put_messages_nowait([msg(body=b"first"), bad])
        self.assertIs(res.status, PutStatus.MESSAGE_ILLEGAL)
        self.assertEqual(store.get_max_phy_offset(), 0)
        mf = store.commitlog.queue.files[0]
        self.assertEqual(bytes(mf.mm[:512]), bytes(512))
        self.assertIs(store.put_message_nowait(msg()).status, PutStatus.PUT_OK)


class EntryPointTests(Base):
    """put_message_nowait, wait_flushed and caller-parsed properties."""

    def test_nowait_then_wait_flushed(self) -> None:
        """Under SYNC_FLUSH nowait returns at once; wait_flushed fires after the flush."""
        runner = ManualRunner()
        store = self.open(runner=runner, flushDiskType="SYNC_FLUSH")
        res = store.put_message_nowait(msg())
        self.assertIs(res.status, PutStatus.PUT_OK)
        d = store.wait_flushed(res)
        self.assertNoResult(d)
        runner.release()
        self.assertIs(self.successResultOf(d), res)

    def test_properties_dict_used(self) -> None:
        """A caller's dict drives tags code, index keys and what listeners hear."""
        store = self.open()
        heard: list[object] = []
        store.add_arrival_listener(lambda *a: heard.append(a[5]))
        props = {"TAGS": "TagA", "KEYS": "k1"}
        mt = msg(props=m.encode_properties(props))
        mt.properties_dict = props
        self.assertIs(store.put_message_nowait(mt).status, PutStatus.PUT_OK)
        self.assertIs(heard[0], props)
        now = int(self.clock.seconds() * 1000)
        self.assertEqual(len(store.query_message("T", "k1", 8, now - 1, now + 1)), 1)
        got = store.get_message("g", "T", 0, 0, 8)
        self.assertIs(got.status, GetStatus.FOUND)
        unit = store.dispatcher.queues[("T", 0)].get_unit(0)
        assert unit is not None
        self.assertEqual(unit[2], m.tag_hash_code("TagA"))

    def test_listener_gets_properties_text(self) -> None:
        """Without a caller dict, listeners get the properties text to decode if they need it."""
        store = self.open()
        heard: list[object] = []
        store.add_arrival_listener(lambda *a: heard.append(a))
        self.assertIs(
            store.put_message_nowait(msg(props="TAGS\x01A\x02x\x01y")).status, PutStatus.PUT_OK
        )
        self.assertEqual(heard[0][2:5], (1, m.tag_hash_code("A"), heard[0][4]))
        props = heard[0][5]
        assert isinstance(props, str)
        self.assertEqual(m.decode_properties(props), {"TAGS": "A", "x": "y"})


class GroupCommitTests(Base):
    """Puts made while waiters are fired share one flush run."""

    def test_follow_up_puts_coalesce(self) -> None:
        """Each acknowledged put issuing the next one gives one run per round, not two."""
        runner = ManualRunner()
        store = self.open(runner=runner, flushDiskType="SYNC_FLUSH")
        acked: list[int] = []

        def chain(i: int) -> Deferred[PutResult]:
            d = store.put_message(msg(body=b"%d" % i))
            d.addCallback(lambda r: acked.append(i) or (chain(i + 16) if i < 48 else None))
            return d

        for i in range(16):
            chain(i)
        self.assertEqual(runner.release(), 1)  # first put's run
        self.assertEqual(len(acked), 1)
        for expected in (17, 33, 49, 64):
            self.assertEqual(runner.release(), 1)
            self.assertEqual(len(acked), expected)
        self.assertEqual(store.flusher.runs, 5)


class IndexHashTests(SynchronousTestCase):
    """The topic-prefix hash reuse equals hashing the whole key."""

    def test_prefix_combination(self) -> None:
        """ASCII, non-ASCII, long and INT_MIN-producing keys agree with index_key_hash."""
        for topic, key in (
            ("T", "k1"),
            ("Topic", "é"),
            ("T", "x" * 300),
            ("", "polygenelubricants"),
            ("BenchTopic", "0123456789ABCDEF0123456789ABCDEF"),
        ):
            ph = m.java_hash32(topic + "#")
            self.assertEqual(_key_hash(ph, topic, key), index_key_hash(topic + "#" + key))


class HostCacheTests(Base):
    """The host-bytes cache may be cleared between the sizing and writing passes."""

    def test_cache_cleared_mid_batch(self) -> None:
        """A batch still encodes when its hosts fall out of a full cache."""
        store = self.open()
        for i in range(4096):
            store._hosts[(f"10.9.{i // 256}.{i % 256}", 1)] = b"\0" * 8
        store._hosts[("10.0.0.2", 5555)] = m.host_to_bytes(("10.0.0.2", 5555))
        a, b = msg(body=b"a"), msg(body=b"b")  # b's host is new: the full cache is cleared
        b.born_host = ("10.0.0.3", 1)
        res = store.put_messages_nowait([a, b])
        self.assertIs(res.status, PutStatus.PUT_OK)
        got = store.get_message("g", "T", 0, 0, 8)
        hosts = [x.born_host for x in m.decode_messages(b"".join(got.buffers))]
        self.assertEqual(hosts, [("10.0.0.2", 5555), ("10.0.0.3", 1)])
