"""ScheduleMessageService: delay-level parsing, redirect, timed delivery, delayOffset.json."""

from __future__ import annotations

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rmq.broker.persist import synchronous_runner
from rmq.broker.schedule import SCHEDULE_TOPIC, ScheduleMessageService, parse_delay_levels
from rmq.common import fastjson
from rmq.common.errors import ConfigError
from rmq.common.message import (
    DELAY,
    REAL_QID,
    REAL_TOPIC,
    TRANSACTION_PREPARED_TYPE,
    decode_message_ext,
    decode_properties,
    encode_properties,
)
from rmq.store.message_store import MessageStore, MessageToStore
from tests.store.helpers import crash, make_store

DEFAULT_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"


def delayed(level: int, topic: str = "T", qid: int = 1, sys_flag: int = 0) -> MessageToStore:
    """A message carrying DELAY=level."""
    props = encode_properties({"TAGS": "TagA", DELAY: str(level), "UNIQ_KEY": "U1"})
    return MessageToStore(
        topic=topic, queue_id=qid, body=b"late", properties=props, sys_flag=sys_flag
    )


class ParseTests(SynchronousTestCase):
    def test_default_levels(self) -> None:
        """The default string gives 18 levels from 1 s to 2 h."""
        levels = parse_delay_levels(DEFAULT_LEVELS)
        self.assertEqual(len(levels), 18)
        self.assertEqual(levels[1], 1000)
        self.assertEqual(levels[5], 60_000)
        self.assertEqual(levels[18], 7_200_000)

    def test_days_unit(self) -> None:
        """The d unit is a day."""
        self.assertEqual(parse_delay_levels("1d"), {1: 86_400_000})

    def test_bad_level(self) -> None:
        """A word without a known unit is refused with a ConfigError naming it."""
        e = self.assertRaises(ConfigError, parse_delay_levels, "1s 5x")
        self.assertIn("5x", e.remark)


class ServiceCase(SynchronousTestCase):
    """A real store in a temporary directory and a service on a Clock."""

    levels = DEFAULT_LEVELS

    def setUp(self) -> None:
        self.root = self.mktemp()
        self.store, self.clock = make_store(self.root)
        self.path = os.path.join(self.root, "config", "delayOffset.json")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.service = self.new_service(self.store, self.clock)

    def tearDown(self) -> None:
        if self.service._running:
            self.service.stop()
        if self.store._running:
            self.successResultOf(self.store.shutdown())

    def new_service(self, store: MessageStore, clock: Clock) -> ScheduleMessageService:
        svc = ScheduleMessageService(store, clock, self.levels, self.path, synchronous_runner)
        svc.load()
        return svc

    def send(self, msg: MessageToStore) -> None:
        result = self.successResultOf(self.store.put_message(self.service.redirect(msg)))
        self.assertTrue(result.ok)

    def real(self, topic: str = "T", qid: int = 1) -> list[dict[str, str]]:
        res = self.store.get_message("g", topic, qid, 0, 32)
        return [decode_properties(decode_message_ext(b)[0].properties) for b in res.buffers]


class RedirectTests(ServiceCase):
    def test_redirect_to_level_queue(self) -> None:
        """DELAY=3 parks the message in queue 2 with REAL_* and the delivery time as tags code."""
        out = self.service.redirect(delayed(3))
        self.assertEqual((out.topic, out.queue_id), (SCHEDULE_TOPIC, 2))
        props = decode_properties(out.properties)
        self.assertEqual((props[REAL_TOPIC], props[REAL_QID]), ("T", "1"))
        self.assertEqual(out.tags_code, int(self.clock.seconds() * 1000) + 10_000)

    def test_no_delay_unchanged(self) -> None:
        """A message without DELAY passes through untouched."""
        msg = MessageToStore(topic="T", queue_id=0, body=b"x", properties="")
        self.assertIs(self.service.redirect(msg), msg)

    def test_prepared_transaction_unchanged(self) -> None:
        """Half (prepared) transaction messages are never delayed."""
        msg = delayed(2, sys_flag=TRANSACTION_PREPARED_TYPE)
        self.assertEqual(self.service.redirect(msg).topic, "T")

    def test_level_clamped(self) -> None:
        """A level above the highest is clamped to it."""
        out = self.service.redirect(delayed(40))
        self.assertEqual(out.queue_id, 17)
        self.assertEqual(decode_properties(out.properties)[DELAY], "18")

    def test_dict_properties(self) -> None:
        """Objects with dict properties keep a dict."""
        msg = delayed(1)
        msg.properties = decode_properties(msg.properties)  # type: ignore[assignment]
        out = self.service.redirect(msg)
        self.assertEqual(out.properties[REAL_TOPIC], "T")  # type: ignore[index]


class DeliveryTests(ServiceCase):
    def test_delivered_when_due_not_before(self) -> None:
        """A level-2 (5 s) message reaches its real queue at 5 s, not earlier."""
        self.service.start()
        self.send(delayed(2))
        self.clock.advance(1.0)
        self.clock.pump([0.1] * 38)
        self.assertEqual(self.real(), [])
        self.clock.pump([0.1] * 13)
        delivered = self.real()
        self.assertEqual(len(delivered), 1)
        self.assertNotIn(DELAY, delivered[0])
        self.assertEqual(delivered[0][REAL_TOPIC], "T")
        self.assertEqual(delivered[0]["WAIT"], "false")
        self.assertEqual(self.service.offsets, {2: 1})

    def test_order_within_level(self) -> None:
        """Messages of one level are delivered in the order they were parked."""
        self.service.start()
        for i in range(3):
            msg = delayed(1)
            msg.body = b"m%d" % i
            self.send(msg)
            self.clock.advance(0.2)
        self.clock.pump([0.1] * 30)
        res = self.store.get_message("g", "T", 1, 0, 32)
        self.assertEqual(
            [decode_message_ext(b)[0].body for b in res.buffers], [b"m0", b"m1", b"m2"]
        )

    def test_offsets_file_unquoted_keys(self) -> None:
        """delayOffset.json is written with unquoted integer level keys after a delivery."""
        self.service.start()
        self.send(delayed(1))
        self.clock.pump([0.5] * 6)
        with open(self.path, "rb") as f:
            text = f.read()
        self.assertEqual(text, b'{"offsetTable":{1:1}}')
        self.assertEqual(fastjson.loads(text), {"offsetTable": {1: 1}})

    def test_half_topic_copy_dropped(self) -> None:
        """A parked copy whose real topic is the half topic is skipped, not delivered."""
        self.service.start()
        self.send(delayed(1, topic="RMQ_SYS_TRANS_HALF_TOPIC", qid=0))
        self.clock.pump([0.5] * 6)
        self.assertEqual(self.real("RMQ_SYS_TRANS_HALF_TOPIC", 0), [])
        self.assertEqual(self.service.offsets, {1: 1})

    def test_failed_put_retried(self) -> None:
        """When the re-put fails the offset stays and the message is delivered on a later pass."""
        self.service.start()
        self.send(delayed(1))
        self.store.writable = False
        self.clock.pump([0.5] * 6)
        self.assertEqual(self.service.offsets.get(1, 0), 0)
        self.store.writable = True
        self.clock.pump([0.1] * 3)
        self.assertEqual(len(self.real()), 1)
        self.assertEqual(self.service.offsets, {1: 1})


class RestartTests(ServiceCase):
    def restart(self, clean: bool) -> None:
        """Stop (or crash) service and store, then start both again from disk."""
        if clean:
            self.successResultOf(self.service.stop())
            self.successResultOf(self.store.shutdown())
        else:
            self.service._running = False
            crash(self.store)
        self.store, self.clock = make_store(self.root, self.clock)
        self.service = self.new_service(self.store, self.clock)
        self.service.start()

    def test_pending_survives_restart(self) -> None:
        """A message parked before a restart is delivered once after it."""
        self.service.start()
        self.send(delayed(2))
        self.clock.advance(2)
        self.restart(clean=True)
        self.clock.pump([0.5] * 10)
        self.assertEqual(len(self.real()), 1)

    def test_delivered_not_doubled_after_restart(self) -> None:
        """A delivered message is not delivered again after a clean restart."""
        self.service.start()
        self.send(delayed(1))
        self.clock.pump([0.5] * 6)
        self.restart(clean=True)
        self.clock.pump([0.5] * 6)
        self.assertEqual(len(self.real()), 1)

    def test_crash_after_delivery_not_doubled(self) -> None:
        """The offset is persisted with each delivery, so a crash afterwards does not re-deliver."""
        self.service.start()
        self.send(delayed(1))
        self.clock.pump([0.5] * 6)
        self.restart(clean=False)
        self.clock.pump([0.5] * 6)
        self.assertEqual(len(self.real()), 1)

    def test_get_all_delay_offset_body(self) -> None:
        """encode() is the GET_ALL_DELAY_OFFSET body: the loaded table as fastjson."""
        with open(self.path, "wb") as f:
            f.write(b'{"offsetTable":{3:7,1:2}}')
        svc = self.new_service(self.store, self.clock)
        self.assertEqual(svc.offsets, {1: 2, 3: 7})
        self.assertEqual(svc.encode(), b'{"offsetTable":{1:2,3:7}}')


class ShortLevelsTests(ServiceCase):
    levels = "1s 2s"

    def test_custom_levels(self) -> None:
        """A shortened messageDelayLevel delivers level 2 after 2 s."""
        self.service.start()
        self.send(delayed(2))
        self.clock.pump([0.1] * 25)
        self.assertEqual(len(self.real()), 1)
