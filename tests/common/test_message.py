"""Tests for rmq.common.message: properties, hashes, ids, stored records and batches."""

from __future__ import annotations

import socket
import struct

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from rmq.common import message as m
from rmq.common.errors import MessageIllegal
from tests.vectors import vectors_dir

VECTORS = vectors_dir()


def frame_body(name: str) -> tuple[bytes, bytes]:
    """Split a captured frame file into (JSON header, body)."""
    raw = (VECTORS / name).read_bytes()
    length, word = struct.unpack_from(">ii", raw)
    hlen = word & 0xFFFFFF
    return raw[8 : 8 + hlen], raw[8 + hlen : 4 + length]


prop_text = st.text(
    alphabet=st.characters(blacklist_characters="\x01\x02", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
)
hosts_v4 = st.tuples(st.ip_addresses(v=4).map(str), st.integers(min_value=0, max_value=65535))
hosts_v6 = st.tuples(
    st.ip_addresses(v=6).map(lambda a: socket.inet_ntop(socket.AF_INET6, a.packed)),
    st.integers(min_value=0, max_value=65535),
)
i32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

messages = st.builds(
    m.MessageExt,
    topic=st.text(alphabet="abcXYZ019_-%|", min_size=1, max_size=127),
    body=st.binary(max_size=300),
    queue_id=i32,
    flag=i32,
    properties=st.dictionaries(prop_text, prop_text, max_size=5).map(m.encode_properties),
    queue_offset=i64,
    commit_log_offset=i64,
    sys_flag=st.integers(min_value=0, max_value=0x70F),
    born_timestamp=i64,
    born_host=hosts_v4 | hosts_v6,
    store_timestamp=i64,
    store_host=hosts_v4 | hosts_v6,
    reconsume_times=i32,
    prepared_transaction_offset=i64,
)


class PropertiesTests(SynchronousTestCase):
    """Properties string codec."""

    @given(st.dictionaries(prop_text, prop_text, max_size=8))
    def test_round_trip(self, props: dict[str, str]) -> None:
        """Non-empty keys and values survive encode then decode."""
        self.assertEqual(m.decode_properties(m.encode_properties(props)), props)

    def test_trailing_separator_and_junk(self) -> None:
        """A trailing separator and empty or separator-less entries are dropped."""
        text = "A\x011\x02\x02B\x01\x02\x01x\x02junk\x02C\x01\x01z\x02"
        self.assertEqual(m.decode_properties(text), {"A": "1", "C": "\x01z"})

    def test_empty_values_skipped_on_encode(self) -> None:
        """Empty values are not written (Java skips null values)."""
        self.assertEqual(m.encode_properties({"A": "", "B": "2"}), "B\x012")

    def test_join(self) -> None:
        """Batch-level properties are appended with exactly one separator."""
        self.assertEqual(m.join_properties("A\x011\x02", "B\x012"), "A\x011\x02B\x012")
        self.assertEqual(m.join_properties("A\x011", "B\x012"), "A\x011\x02B\x012")
        self.assertEqual(m.join_properties("", "B\x012"), "B\x012")


class HashTests(SynchronousTestCase):
    """Java String.hashCode and the masked CRC."""

    def test_known_values(self) -> None:
        """TagA hashes as in the reference; signed wraparound matches Java."""
        self.assertEqual(m.tag_hash_code("TagA"), 2598919)
        self.assertEqual(m.tag_hash_code(""), 0)
        self.assertEqual(m.tag_hash_code(None), 0)
        # Java: "polygenelubricants".hashCode() == Integer.MIN_VALUE
        self.assertEqual(m.tag_hash_code("polygenelubricants"), -(2**31))
        # a non-BMP char is two UTF-16 units: "\U0001F600".hashCode() == 1772909
        self.assertEqual(m.tag_hash_code("\U0001f600"), 55357 * 31 + 56832)
        self.assertEqual(m.tag_hash_code("é"), 233)

    def test_crc_masked(self) -> None:
        """The CRC is zlib's CRC-32 with the top bit cleared."""
        self.assertEqual(m.crc32_masked(b"123456789"), 0xCBF43926 & 0x7FFFFFFF)


class MessageIdTests(SynchronousTestCase):
    """Offset message ids and unique ids."""

    def test_reference_example(self) -> None:
        """127.0.0.1:10911 offset 0 gives the documented id."""
        self.assertEqual(
            m.create_offset_msg_id("127.0.0.1", 10911, 0), "7F00000100002A9F0000000000000000"
        )

    @given(hosts_v4 | hosts_v6, st.integers(min_value=0, max_value=2**63 - 1))
    def test_round_trip(self, host: tuple[str, int], offset: int) -> None:
        """Ids decode back to host, port and offset, 32 or 56 chars long."""
        mid = m.create_offset_msg_id(host[0], host[1], offset)
        self.assertIn(len(mid), (32, 56))
        self.assertEqual(m.decode_offset_msg_id(mid), (host[0], host[1], offset))

    def test_bad_id(self) -> None:
        """Malformed ids raise MessageIllegal."""
        self.assertRaises(MessageIllegal, m.decode_offset_msg_id, "zz")
        self.assertRaises(MessageIllegal, m.decode_offset_msg_id, "00" * 10)

    def test_unique_ids(self) -> None:
        """Unique ids are 32 upper-hex chars, share the prefix and never repeat."""
        now = [1_700_000_000.0]
        gen = m.UniqueIdGenerator(lambda: now[0], ip="10.0.0.1", pid=0x1234, loader_hash=7)
        ids = set()
        for _ in range(1000):
            ids.add(gen.next_id())
            now[0] += 0.001
        self.assertEqual(len(ids), 1000)
        one = next(iter(ids))
        self.assertEqual(len(one), 32)
        self.assertTrue(one.startswith("0A000001123400000007"))
        self.assertEqual(one, one.upper())


class RecordTests(SynchronousTestCase):
    """Stored-record codec."""

    @given(messages)
    def test_round_trip(self, msg: m.MessageExt) -> None:
        """Encoding then decoding gives the same fields, CRC and size."""
        raw = m.encode_message_ext(msg)
        back, end = m.decode_message_ext(raw)
        self.assertEqual(end, len(raw))
        self.assertEqual(back.store_size, len(raw))
        self.assertEqual(back.body_crc, m.crc32_masked(msg.body))
        v6 = (m.BORNHOST_V6_FLAG if ":" in msg.born_host[0] else 0) | (
            m.STOREHOST_V6_FLAG if ":" in msg.store_host[0] else 0
        )
        expect = msg.sys_flag & ~(m.BORNHOST_V6_FLAG | m.STOREHOST_V6_FLAG) | v6
        self.assertEqual(
            back,
            m.MessageExt(
                **{
                    **{f: getattr(msg, f) for f in m.MessageExt.__slots__ if f[0] != "_"},
                    "sys_flag": expect,
                    "body_crc": back.body_crc,
                    "store_size": len(raw),
                }
            ),
        )
        self.assertEqual(
            len(raw),
            m.record_size(
                len(msg.body), len(msg.topic.encode()), len(msg.properties.encode()), expect
            ),
        )

    def test_ipv4_size(self) -> None:
        """An IPv4 record with empty variable parts is 91 bytes plus the topic."""
        raw = m.encode_message_ext(m.MessageExt(topic="T", body=b""))
        self.assertEqual(len(raw), 92)

    def test_too_long(self) -> None:
        """Topics over 127 bytes and properties over 32767 bytes are illegal."""
        self.assertRaises(MessageIllegal, m.encode_message_ext, m.MessageExt("x" * 128, b""))
        big = m.MessageExt("t", b"", properties="a\x01" + "b" * 32767)
        self.assertRaises(MessageIllegal, m.encode_message_ext, big)

    def test_corrupt(self) -> None:
        """Bad magic, truncation and inconsistent lengths raise MessageIllegal."""
        raw = m.encode_message_ext(m.MessageExt(topic="T", body=b"abc", properties="A\x01b"))
        self.assertRaises(MessageIllegal, m.decode_message_ext, raw[:-1])
        self.assertRaises(MessageIllegal, m.decode_message_ext, raw[:20])
        bad = bytearray(raw)
        bad[4] ^= 0xFF
        self.assertRaises(MessageIllegal, m.decode_message_ext, bytes(bad))
        bad = bytearray(raw)
        struct.pack_into(">i", bad, 84, 9999)  # body length
        self.assertRaises(MessageIllegal, m.decode_message_ext, bytes(bad))

    def test_derived_ids(self) -> None:
        """msg_id prefers UNIQ_KEY, else the offset id from store host and offset."""
        msg = m.MessageExt("T", b"", store_host=("127.0.0.1", 10911), commit_log_offset=0)
        self.assertEqual(msg.msg_id, "7F00000100002A9F0000000000000000")
        msg2 = attrs_evolve(msg, properties="UNIQ_KEY\x01ABC\x02TAGS\x01t")
        self.assertEqual(msg2.msg_id, "ABC")
        self.assertEqual(msg2.tags, "t")


def attrs_evolve(msg: m.MessageExt, **kw: object) -> m.MessageExt:
    """attrs.evolve with a typed signature for the tests."""
    import attrs

    return attrs.evolve(msg, **kw)


class GoldenTests(SynchronousTestCase):
    """Captured pull bodies and a batch send parse as expected."""

    def test_pull_bodies(self) -> None:
        """Every FOUND pull body splits into stored records matching its offsets."""
        names = sorted(p.name for p in VECTORS.glob("broker-pull_message-found-*.bin"))
        self.assertGreater(len(names), 5)
        for name in names:
            _, body = frame_body(name)
            msgs = m.decode_messages(body)
            self.assertTrue(msgs, name)
            self.assertEqual(sum(x.store_size for x in msgs), len(body), name)
            for x in msgs:
                self.assertEqual(x.topic, "CapTopic", name)
                self.assertEqual(x.store_host, ("127.0.0.1", 20911), name)
                self.assertEqual(x.body_crc, m.crc32_masked(x.body), name)

    def test_pull_three_messages(self) -> None:
        """The C++ pull capture holds three messages with the expected bodies and tags."""
        _, body = frame_body("broker-pull_message-found-response-accepted-by-cpp.bin")
        msgs = m.decode_messages(body)
        self.assertEqual(len(msgs), 3)
        self.assertEqual(msgs[0].body, b"hello-sync")
        self.assertEqual(msgs[0].properties_dict[m.KEYS], "KeyA")
        self.assertEqual([x.queue_offset for x in msgs], [0, 1, 2])

    def test_compressed_body(self) -> None:
        """The compressed capture inflates to 5000 bytes."""
        _, body = frame_body("broker-pull_message-found-compressed-response-accepted-by-alions.bin")
        (msg,) = m.decode_messages(body)
        self.assertTrue(msg.sys_flag & m.COMPRESSED_FLAG)
        self.assertEqual(len(m.decompress_body(msg.body, msg.sys_flag)), 5000)

    def test_bad_vectors(self) -> None:
        """The bad-magic and truncated captures are rejected."""
        for name in (
            "broker-pull_message-badmagic-accepted-by-cpp.bin",
            "broker-pull_message-truncated-rejected-by-alions.bin",
        ):
            _, body = frame_body(name)
            self.assertRaises(MessageIllegal, m.decode_messages, body)

    def test_batch_request(self) -> None:
        """The C++ batch send body decodes to two messages and re-encodes identically."""
        _, body = frame_body("cpp-send_message-batch-request.bin")
        items = m.decode_batch(body)
        self.assertEqual(len(items), 2)
        self.assertEqual(items[0][1], b"batch-1")
        props = m.decode_properties(items[0][2])
        self.assertEqual(props[m.TAGS], "TagA")
        self.assertEqual(props[m.KEYS], "K1")
        self.assertEqual(m.encode_batch(items), body)


class BatchTests(SynchronousTestCase):
    """Batch body codec."""

    @given(st.lists(st.tuples(i32, st.binary(max_size=100), st.text(max_size=30)), max_size=5))
    def test_round_trip(self, items: list[tuple[int, bytes, str]]) -> None:
        """Encode then decode returns the same items."""
        self.assertEqual(m.decode_batch(m.encode_batch(items)), items)

    def test_truncated(self) -> None:
        """A cut batch body raises MessageIllegal."""
        raw = m.encode_batch([(0, b"abc", "A\x01b")])
        self.assertRaises(MessageIllegal, m.decode_batch, raw[:-1])
        self.assertRaises(MessageIllegal, m.decode_batch, raw[:10])


class CompressionTests(SynchronousTestCase):
    """Body decompression."""

    def test_zlib_types(self) -> None:
        """Type bits 0 and 3 are zlib; uncompressed bodies pass through."""
        data = b"x" * 5000
        z = m.compress_body(data)
        self.assertEqual(m.decompress_body(z, m.COMPRESSED_FLAG), data)
        self.assertEqual(m.decompress_body(z, m.COMPRESSED_FLAG | m.COMPRESSION_ZLIB), data)
        self.assertEqual(m.decompress_body(data, 0), data)

    def test_bad_zlib(self) -> None:
        """Garbage flagged compressed raises MessageIllegal."""
        self.assertRaises(MessageIllegal, m.decompress_body, b"nope", m.COMPRESSED_FLAG)
