"""Integration: a SYNC_FLUSH writer process is SIGKILLed; every acked message must survive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from rmq.common import message as m
from rmq.store.message_store import GetStatus, MessageStore

from .crash_writer import body_for
from .helpers import make_store

WRITER = os.path.join(os.path.dirname(__file__), "crash_writer.py")
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class CrashTests(SynchronousTestCase):
    """Kill -9 in the middle of a write stream, then recover."""

    def run_writer(self, root: str, acks_wanted: int) -> dict[int, int]:
        """Start the writer, read acks until enough, SIGKILL it; return {i: queue offset}."""
        env = dict(os.environ, PYTHONPATH=PROJECT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen(
            [sys.executable, WRITER, root], stdout=subprocess.PIPE, env=env, text=True
        )
        acked: dict[int, int] = {}
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                parts = line.split()
                if parts and parts[0] == "ACK":
                    acked[int(parts[1])] = int(parts[2])
                    if len(acked) >= acks_wanted:
                        break
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        return acked

    def read_all(self, store: MessageStore) -> list[m.MessageExt]:
        """Every message of the Crash queue, decoded (decoding checks magic and lengths)."""
        out: list[m.MessageExt] = []
        offset = 0
        while True:
            got = store.get_message("g", "Crash", 0, offset, 32)
            if got.status is not GetStatus.FOUND:
                break
            out.extend(m.decode_messages(b"".join(got.buffers)))
            offset = got.next_begin_offset
        return out

    def check(self, msgs: list[m.MessageExt], acked: dict[int, int], upto: int | None) -> None:
        """Messages are in order, CRC-valid, and hold every acked one (below ``upto``)."""
        by_offset = {x.queue_offset: x for x in msgs}
        self.assertEqual([x.queue_offset for x in msgs], list(range(len(msgs))))
        for x in msgs:
            self.assertEqual(x.body_crc, m.crc32_masked(x.body))
            self.assertEqual(x.body, body_for(x.born_timestamp))
        for i, qoff in acked.items():
            if upto is not None and qoff >= upto:
                continue
            self.assertIn(qoff, by_offset, f"acked message {i} lost")
            self.assertEqual(by_offset[qoff].body, body_for(i))

    def reopen(self, root: str) -> MessageStore:
        """The killed writer's store, opened again with the writer's settings (recovery runs)."""
        store, _ = make_store(
            root,
            mappedFileSizeCommitLog=256 * 1024,
            mappedFileSizeConsumeQueue=20 * 1000,
            maxHashSlotNum=1000,
            maxIndexNum=4000,
            maxMessageSize=64 * 1024,
        )
        self.addCleanup(lambda: self.successResultOf(store.shutdown()))
        return store

    def test_sigkill(self) -> None:
        """After SIGKILL, every acked message is readable with its exact bytes, in order."""
        root = self.mktemp()
        acked = self.run_writer(root, 1500)
        store = self.reopen(root)
        msgs = self.read_all(store)
        self.assertGreaterEqual(len(msgs), len(acked))
        self.check(msgs, acked, None)
        self.assertGreater(len(store.commitlog.queue.files), 1)

    def test_sigkill_flipped(self) -> None:
        """Bytes flipped inside the last records: those and later ones are cut, never served."""
        root = self.mktemp()
        acked = self.run_writer(root, 300)
        cl_dir = os.path.join(root, "commitlog")
        last = sorted(os.listdir(cl_dir))[-1]
        path = os.path.join(cl_dir, last)
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            # find the record starts of this file, then flip a body byte of the third-last record
            starts, pos = [], 0
            while pos + 8 <= len(data):
                size = int.from_bytes(data[pos : pos + 4], "big", signed=True)
                magic = int.from_bytes(data[pos + 4 : pos + 8], "big", signed=True)
                if magic != m.MESSAGE_MAGIC_CODE or size <= 0 or pos + size > len(data):
                    break
                starts.append(pos)
                pos += size
            self.assertGreater(len(starts), 3)
            victim = starts[-3]
            rec, _ = m.decode_message_ext(bytes(data), victim)
            data[victim + 100] ^= 0xFF  # inside the body (bodies are >= 11 bytes at 91+)
            f.seek(0)
            f.write(data)
        store = self.reopen(root)
        msgs = self.read_all(store)
        self.assertEqual(len(msgs), rec.queue_offset)
        self.check(msgs, acked, rec.queue_offset)
        self.assertEqual(store.get_max_phy_offset(), int(last) + victim)
