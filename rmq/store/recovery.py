"""Start-up recovery of the CommitLog, ConsumeQueues and index (REFERENCE.md §6.9).

Clean shutdown: validate from the third-last CommitLog file. After a crash (abort file present):
validate from the newest file older than the checkpoint. Either way: cut at the first record that
fails its size, magic, offset or CRC check, zero what follows, drop ConsumeQueue units past the cut,
then re-dispatch (idempotently) every record the queues or index may be missing.
"""

from __future__ import annotations

import logging

from rmq.store.checkpoint import Checkpoint
from rmq.store.commitlog import CommitLog
from rmq.store.dispatch import Dispatcher

log = logging.getLogger(__name__)

SAFETY_MS = 3000


def _abnormal_start(commitlog: CommitLog, checkpoint: Checkpoint, with_index: bool) -> int:
    """Index of the newest file whose first record is older than the checkpoint says is safe."""
    limit = checkpoint.min_timestamp(with_index) - SAFETY_MS
    files = commitlog.queue.files
    for i in range(len(files) - 1, -1, -1):
        ts = commitlog.first_store_timestamp(i)
        if 0 <= ts <= limit:
            return i
    return 0


def recover(
    commitlog: CommitLog,
    dispatcher: Dispatcher,
    checkpoint: Checkpoint,
    last_exit_ok: bool,
    check_crc: bool,
    proof_run: int,
) -> int:
    """Recover all structures; return the number of records re-dispatched."""
    for cq in dispatcher.queues.values():
        cq.recover()
    files = commitlog.queue.files
    if not files:
        for cq in dispatcher.queues.values():
            cq.truncate_dirty(0)
        return 0
    if last_exit_ok:
        start = max(0, len(files) - 3)
    else:
        start = _abnormal_start(commitlog, checkpoint, dispatcher.index is not None)
        log.warning("abnormal shutdown detected; recovering from %s", files[start].path)
    last_ts = 0
    for _mf, _pos, req in commitlog.scan(start, check_crc):
        last_ts = req.store_timestamp
    end = commitlog.scan_end
    commitlog.set_end(end, proof_run)
    commitlog.last_store_timestamp = last_ts
    for cq in dispatcher.queues.values():
        cq.truncate_dirty(end)
    reput_from = max((cq.max_physic_offset for cq in dispatcher.queues.values()), default=0)
    if not last_exit_ok:
        reput_from = min(reput_from, files[start].file_from_offset)
    reput_from = max(reput_from, commitlog.min_offset)
    count = 0
    if reput_from < end:
        first = commitlog.queue.find(reput_from)
        index = commitlog.queue.files.index(first) if first is not None else 0
        for _mf, _pos, req in commitlog.scan(index, False):
            if req.commit_log_offset >= reput_from:
                dispatcher.dispatch(req, notify=False)
                count += 1
    dispatcher.dispatched_offset = end
    phys_min = commitlog.min_offset
    for cq in dispatcher.queues.values():
        cq.correct_min_offset(phys_min)
    if count:
        log.info("re-dispatched %d records from offset %d", count, reput_from)
    return count
