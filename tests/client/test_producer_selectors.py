"""Queue selectors: Java-compatible hashing of order keys, and seeded random choice."""

from __future__ import annotations

import math
import random

from twisted.trial.unittest import SynchronousTestCase

from rmq.client import producer as producer_mod
from rmq.client.model import Message, MessageQueue
from rmq.client.producer import java_hash_code, select_by_hash, select_random

MSG = Message("T", b"x")


def queues(n: int) -> list[MessageQueue]:
    return [MessageQueue("T", "broker-a", i) for i in range(n)]


def java_long_hash(v: int) -> int:
    """Long.hashCode by the Java formula: (int)(v ^ (v >>> 32)) on a two's complement long."""
    u = v % (1 << 64)
    low = (u ^ (u >> 32)) % (1 << 32)
    return low - (1 << 32) if low >= 1 << 31 else low


def java_string_hash(s: str) -> int:
    """String.hashCode by the Java formula over UTF-16 code units, as a signed int."""
    h = 0
    units = s.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i : i + 2], "big")) % (1 << 32)
    return h - (1 << 32) if h >= 1 << 31 else h


def java_index(hash_code: int, size: int) -> int:
    """SelectMessageQueueByHash: Java remainder (sign of dividend), then Math.abs."""
    value = int(math.fmod(hash_code, size))  # int32 operands: exact in a double
    return -value if value < 0 else value


class HashSelectorTests(SynchronousTestCase):
    def test_long_hash_literals(self) -> None:
        """Ints wider than int32 hash like java.lang.Long (values worked out by hand)."""
        self.assertEqual(java_hash_code(1 << 32), 1)
        self.assertEqual(java_hash_code(-(1 << 32)), -1)
        self.assertEqual(java_hash_code(10_000_000_000), 0x540BE402)
        self.assertEqual(java_hash_code(-10_000_000_000), 0x540BE3FD)
        self.assertEqual(java_hash_code(1 << 31), -(1 << 31))

    def test_int32_hash_is_value(self) -> None:
        """Ints within int32 hash like java.lang.Integer: the value itself."""
        for v in (0, 7, -1, -(1 << 31), (1 << 31) - 1):
            self.assertEqual(java_hash_code(v), v)

    def test_string_and_bool_hash(self) -> None:
        """Strings hash like String.hashCode; bools like Boolean (1231/1237)."""
        self.assertEqual(java_hash_code("hello"), 99162322)
        self.assertEqual(java_hash_code("polygenelubricants"), -(1 << 31))
        self.assertEqual(java_hash_code("order-\u00e9\U0001f600"), java_string_hash("order-é😀"))
        self.assertEqual(java_hash_code(True), 1231)
        self.assertEqual(java_hash_code(False), 1237)

    def test_long_order_ids_pick_java_queue(self) -> None:
        """Long order ids pick the queue Java's SelectMessageQueueByHash picks."""
        qs = queues(8)
        self.assertEqual(select_by_hash(qs, MSG, 10_000_000_000).queue_id, 2)
        self.assertEqual(select_by_hash(qs, MSG, -10_000_000_000).queue_id, 5)
        self.assertEqual(select_by_hash(queues(4), MSG, 1 << 32).queue_id, 1)
        self.assertEqual(select_by_hash(queues(4), MSG, -(1 << 32)).queue_id, 1)
        rng = random.Random(1234)
        for _ in range(500):
            v = rng.randrange(-(1 << 63), 1 << 63)
            n = rng.randrange(1, 17)
            want = java_index(java_long_hash(v) if not -(1 << 31) <= v < 1 << 31 else v, n)
            self.assertEqual(select_by_hash(queues(n), MSG, v).queue_id, want, (v, n))

    def test_string_keys_pick_java_queue(self) -> None:
        """String keys pick abs(String.hashCode % size), including negative hashes."""
        for key in ("order-7", "hello", "polygenelubricants", "zzzzzzzz", "订单-42"):
            for n in (1, 3, 4, 7, 8):
                want = java_index(java_string_hash(key), n)
                self.assertEqual(select_by_hash(queues(n), MSG, key).queue_id, want, (key, n))


class RandomSelectorTests(SynchronousTestCase):
    def test_random_draws_from_module_rng(self) -> None:
        """select_random picks queues[randrange(n)] from its RNG (seeded here: deterministic)."""
        self.patch(producer_mod, "_rng", random.Random(42))
        qs = queues(5)
        got = [select_random(qs, MSG, None) for _ in range(50)]
        ref = random.Random(42)
        self.assertEqual(got, [qs[ref.randrange(5)] for _ in range(50)])

    def test_random_covers_every_queue(self) -> None:
        """Over many picks every queue is chosen and nothing outside the list is."""
        self.patch(producer_mod, "_rng", random.Random(7))
        qs = queues(4)
        seen = [select_random(qs, MSG, "ignored") for _ in range(200)]
        self.assertEqual(set(seen), set(qs))
        counts = [seen.count(q) for q in qs]
        self.assertGreater(min(counts), 20)

    def test_random_single_queue(self) -> None:
        """With one queue the random selector returns it."""
        qs = queues(1)
        self.assertIs(select_random(qs, MSG, None), qs[0])
