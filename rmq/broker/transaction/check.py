"""Check-back of pending half messages (§7.10 step 5), every ``transactionCheckInterval``.

One pass per half queue: read the op queue to learn which half offsets are done, then walk the
half queue from the saved progress. A pending half message older than ``transactionTimeOut`` (or
its ``CHECK_IMMUNITY_TIME_IN_SECONDS``) is re-appended with ``TRANSACTION_CHECK_TIMES`` + 1 and
CHECK_TRANSACTION_STATE (oneway) goes to one live channel of its producer group; after
``transactionCheckMax`` checks it is moved to TRANS_CHECK_MAX_TIME_TOPIC instead. Progress of
both queues is committed under ``CID_RMQ_SYS_TRANS``. A producer that answers "unknown" simply
gets asked again on a later pass. A failed re-append ends the queue's pass at that half message,
so the next pass retries it (Java retries the same offset).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from rmq.broker.requeue import put
from rmq.broker.topics import (
    PERM_READ,
    PERM_WRITE,
    TRANS_CHECK_MAX_TIME_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
)
from rmq.broker.transaction.half import (
    SYS_TRANS_GROUP,
    check_copy,
    check_times,
    discard_copy,
    producer_group,
    restored_body,
    uniq_key,
)
from rmq.common.message import (
    CHECK_IMMUNITY_TIME_IN_SECONDS,
    MessageExt,
    create_offset_msg_id,
    decode_message_ext,
    decode_properties,
)
from rmq.remoting.codes import RequestCode
from rmq.remoting.command import RemotingCommand

if TYPE_CHECKING:
    from rmq.broker.controller import BrokerController

__all__ = ["TransactionCheckService"]

_log = Logger()

MAX_PER_PASS = 2000
"""Half messages examined per queue and pass (keeps the reactor responsive)."""


class TransactionCheckService:
    """Runs :meth:`check` every ``interval`` seconds on the broker's clock."""

    def __init__(
        self, broker: BrokerController, interval: float, timeout_ms: int, check_max: int
    ) -> None:
        self.broker = broker
        self.interval = interval
        self.timeout_ms = timeout_ms
        self.check_max = check_max
        self.checks_sent = 0
        self.discarded = 0
        self.last_pending = 0
        self._loop: LoopingCall | None = None
        self._running: Deferred[None] | None = None
        self._rr = 0

    def start(self) -> None:
        loop = LoopingCall(self._tick)
        loop.clock = self.broker.clock
        loop.start(self.interval, now=False).addErrback(
            lambda f: _log.failure("transaction check loop died", f)
        )
        self._loop = loop

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _tick(self) -> None:
        if self._running is not None:
            return  # the previous pass is still running
        d = self.check()
        self._running = d

        def done(_: Any) -> None:
            self._running = None

        d.addErrback(lambda f: _log.failure("transaction check pass failed", f)).addBoth(done)

    def check(self) -> Deferred[None]:
        """One pass over every half queue."""
        return Deferred.fromCoroutine(self._check_all())

    async def _check_all(self) -> None:
        store = self.broker.store
        tc = self.broker.topics.get(TRANS_HALF_TOPIC)
        if tc is None:
            return
        pending = 0
        for qid in range(max(tc.read_queue_nums, 1)):
            if store.get_max_offset_in_queue(TRANS_HALF_TOPIC, qid) > 0:
                pending += await self._check_queue(qid)
        self.last_pending = pending

    # --- one queue ---------------------------------------------------------------------

    def _progress(self, topic: str, qid: int) -> int:
        offset: int = self.broker.offsets.query(SYS_TRANS_GROUP, topic, qid)
        if offset < 0:
            offset = self.broker.store.get_min_offset_in_queue(topic, qid)
        return offset

    async def _read(self, topic: str, qid: int, offset: int) -> tuple[list[MessageExt], int]:
        """Up to one batch of messages from ``offset``, and the next offset to read."""
        result = await maybeDeferred(self.broker.store.get_message, "", topic, qid, offset, 32)
        msgs = [decode_message_ext(b)[0] for b in result.buffers]
        return msgs, int(result.next_begin_offset)

    async def _done_map(self, qid: int, half_offset: int) -> tuple[dict[int, int], list[int], int]:
        """Op queue since progress: {half offset: op offset} still ahead, op offsets behind."""
        op_start = self._progress(TRANS_OP_HALF_TOPIC, qid)
        op_max = self.broker.store.get_max_offset_in_queue(TRANS_OP_HALF_TOPIC, qid)
        ahead: dict[int, int] = {}
        behind: list[int] = []
        offset = op_start
        while offset < op_max:
            msgs, nxt = await self._read(TRANS_OP_HALF_TOPIC, qid, offset)
            for op in msgs:
                try:
                    done = int(op.body.decode())
                except ValueError:
                    behind.append(op.queue_offset)
                    continue
                if done < half_offset:
                    behind.append(op.queue_offset)
                else:
                    ahead[done] = op.queue_offset
            if nxt <= offset:
                break
            offset = nxt
        return ahead, behind, op_start

    async def _check_queue(self, qid: int) -> int:
        """Check one half queue; return how many half messages are still pending."""
        half_start = self._progress(TRANS_HALF_TOPIC, qid)
        ahead, behind, op_start = await self._done_map(qid, half_start)
        half_max = self.broker.store.get_max_offset_in_queue(TRANS_HALF_TOPIC, qid)
        now_ms = int(self.broker.clock.seconds() * 1000)
        offset = half_start
        progress = half_start
        pending = 0
        examined = 0
        stop = False
        while offset < half_max and not stop and examined < MAX_PER_PASS:
            msgs, nxt = await self._read(TRANS_HALF_TOPIC, qid, offset)
            if not msgs:
                if nxt <= offset:
                    break
                offset = progress = nxt
                continue
            for half in msgs:
                examined += 1
                done_op = ahead.pop(half.queue_offset, None)
                if done_op is not None:
                    behind.append(done_op)
                elif check_times(half) >= self.check_max:
                    await self._discard(half)
                elif now_ms - half.born_timestamp < self._immunity_ms(half):
                    stop = True  # counted below with the rest from ``progress``
                    break
                elif not await self._check_one(half):
                    stop = True  # retry this offset next pass, as Java does
                    break
                progress = half.queue_offset + 1
            offset = max(nxt, progress) if not stop else offset
        pending += max(0, half_max - progress - len(ahead)) if stop else 0
        offsets = self.broker.offsets
        offsets.commit(SYS_TRANS_GROUP, TRANS_HALF_TOPIC, qid, progress)
        offsets.commit(SYS_TRANS_GROUP, TRANS_OP_HALF_TOPIC, qid, _advance(op_start, behind))
        return pending

    def _immunity_ms(self, half: MessageExt) -> int:
        raw = decode_properties(half.properties).get(CHECK_IMMUNITY_TIME_IN_SECONDS)
        if raw:
            try:
                return max(int(raw) * 1000, 0)
            except ValueError:
                pass
        return self.timeout_ms

    async def _discard(self, half: MessageExt) -> None:
        topics = self.broker.topics
        if topics.get(TRANS_CHECK_MAX_TIME_TOPIC) is None:
            topics.create_in_send_back(TRANS_CHECK_MAX_TIME_TOPIC, 1, PERM_READ | PERM_WRITE, 0)
        outcome = await put(self.broker.store, discard_copy(half))
        self.discarded += 1
        _log.info(
            "half message {o} discarded after {n} checks ({s})",
            o=half.queue_offset,
            n=check_times(half),
            s=outcome.status,
        )

    async def _check_one(self, half: MessageExt) -> bool:
        """Re-append ``half`` with one more check and ask its producer; False if the put failed.

        A failed put must not move progress past ``half``: it is the only copy left to check.
        """
        outcome = await put(self.broker.store, check_copy(half))
        if not outcome.ok:
            _log.warn(
                "re-put of half message {o} failed: {s}", o=half.queue_offset, s=outcome.status
            )
            return False
        raw = self.broker.store.look_message_by_offset(outcome.commit_log_offset)
        if raw is None:
            return True
        copy, _ = decode_message_ext(raw)
        self.send_check(copy)
        return True

    def send_check(self, half: MessageExt) -> bool:
        """Send CHECK_TRANSACTION_STATE for ``half`` to one channel of its producer group."""
        group = producer_group(half)
        channels = self.broker.producers.get(group)
        if not channels:
            _log.warn("no live producer of group {g} to check a half message", g=group)
            return False
        self._rr += 1
        channel = channels[self._rr % len(channels)]
        key = uniq_key(half)
        ip, port = half.store_host
        ext = {
            "tranStateTableOffset": str(half.queue_offset),
            "commitLogOffset": str(half.commit_log_offset),
            "offsetMsgId": create_offset_msg_id(ip, port, half.commit_log_offset),
        }
        if key:
            ext["msgId"] = key
            ext["transactionId"] = key
        cmd = RemotingCommand.request(
            RequestCode.CHECK_TRANSACTION_STATE, ext, restored_body(half), oneway=True
        )
        try:
            d = channel.connection.invoke_oneway(cmd)
        except Exception:
            _log.failure("sending CHECK_TRANSACTION_STATE failed")
            return False
        d.addErrback(lambda f: _log.warn("check-back failed: {e}", e=f.getErrorMessage()))
        self.checks_sent += 1
        return True


def _advance(start: int, done: list[int]) -> int:
    """The op-queue progress: past every consecutive done offset from ``start``."""
    offsets = set(done)
    while start in offsets:
        start += 1
    return start
