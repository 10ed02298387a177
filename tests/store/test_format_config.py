"""Layouts (hypothesis round trips) and StoreConfig parsing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rmq.common import message as m
from rmq.common.errors import ConfigError
from rmq.store import format as f
from rmq.store.config import StoreConfig

i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


class FormatTests(SynchronousTestCase):
    """CommitLog record and ConsumeQueue unit layouts."""

    @given(i64, st.integers(min_value=-(2**31), max_value=2**31 - 1), i64)
    def test_cq_unit(self, off: int, size: int, tags: int) -> None:
        """A 20-byte unit packs and unpacks losslessly."""
        raw = f.CQ_UNIT.pack(off, size, tags)
        self.assertEqual(len(raw), 20)
        self.assertEqual(f.CQ_UNIT.unpack(raw), (off, size, tags))

    @given(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["KEYS", "TAGS", "UNIQ_KEY", "x"]), st.text("ab ", min_size=1)
        ),
        st.integers(min_value=0, max_value=2**40),
    )
    def test_check_record(self, body: bytes, props: dict[str, str], phys: int) -> None:
        """check_record accepts an encoded record and extracts its dispatch fields."""
        msg = m.MessageExt(
            "Topic",
            body,
            queue_id=3,
            properties=m.encode_properties(props),
            commit_log_offset=phys,
            queue_offset=7,
            store_timestamp=99,
        )
        raw = m.encode_message_ext(msg)
        req = f.check_record(raw, 0, len(raw), True)
        assert isinstance(req, f.DispatchRequest)
        self.assertEqual(
            (req.topic, req.queue_id, req.size, req.queue_offset), ("Topic", 3, len(raw), 7)
        )
        self.assertEqual((req.commit_log_offset, req.store_timestamp), (phys, 99))
        self.assertEqual(req.tags_code, m.tag_hash_code(props.get("TAGS")))
        self.assertEqual(req.keys, props.get("KEYS"))
        if body:
            bad = bytearray(raw)
            bad[84 + 4] ^= 0x1  # first body byte (IPv4 layout: body length at 84)
            self.assertRaises(f.RecordError, f.check_record, bytes(bad), 0, len(bad), True)

    def test_blank_and_zeros(self) -> None:
        """A blank marker and zeroed space are recognised; a torn header is an error."""
        buf = bytearray(64)
        self.assertEqual(f.check_record(buf, 0, 64, True), 0)
        f.write_blank(buf, 0, 64)
        self.assertEqual(f.check_record(buf, 0, 64, True), f.BLANK_RECORD)
        self.assertRaises(f.RecordError, f.check_record, b"\x01\x02\x03", 0, 3, True)

    def test_index_hash(self) -> None:
        """Index key hash is abs(hashCode), 0 for INT_MIN."""
        self.assertEqual(f.index_key_hash("polygenelubricants"), 0)
        self.assertEqual(f.index_key_hash("TagA"), 2598919)
        self.assertEqual(f.index_file_size(5_000_000, 20_000_000), 420_000_040)


class ConfigTests(SynchronousTestCase):
    """broker.conf key handling."""

    def test_defaults(self) -> None:
        """Defaults match RocketMQ 4.9."""
        c = StoreConfig()
        self.assertEqual(c.mapped_file_size_commit_log, 1 << 30)
        self.assertEqual(c.mapped_file_size_consume_queue, 6_000_000)
        self.assertEqual((c.flush_interval_commit_log, c.file_reserved_time), (500, 72))
        self.assertEqual(c.delete_hours, frozenset({4}))

    def test_from_mapping(self) -> None:
        """camelCase string values are converted to the field types."""
        c = StoreConfig.from_mapping(
            {
                "flushDiskType": "SYNC_FLUSH",
                "syncFlushTimeout": "100",
                "messageIndexEnable": "false",
                "deleteWhen": "01;04",
                "storePathRootDir": "/tmp/x",
            }
        )
        self.assertTrue(c.sync_flush)
        self.assertEqual(c.sync_flush_timeout, 100)
        self.assertFalse(c.message_index_enable)
        self.assertEqual(c.delete_hours, frozenset({1, 4}))
        self.assertEqual(c.commit_log_dir, "/tmp/x/commitlog")

    def test_errors(self) -> None:
        """Unknown keys and bad values raise ConfigError naming them."""
        for bad, word in (
            ({"noSuchKey": 1}, "noSuchKey"),
            ({"syncFlushTimeout": "soon"}, "syncFlushTimeout"),
            ({"flushDiskType": "SOMETIMES"}, "flushDiskType"),
            ({"mappedFileSizeConsumeQueue": 30}, "mappedFileSizeConsumeQueue"),
            ({"deleteWhen": "25"}, "deleteWhen"),
        ):
            err = self.assertRaises(ConfigError, StoreConfig.from_mapping, bad)
            self.assertIn(word, str(err))
