"""The client on Twisted's asyncio reactor, awaited from asyncio (in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class AsyncioTests(SynchronousTestCase):
    def test_asyncio_reactor_round_trip(self) -> None:
        """Producer and push consumer run on AsyncioSelectorReactor with asyncio listeners."""
        env = dict(os.environ, PYTHONPATH=ROOT)
        proc = subprocess.run(
            [sys.executable, "-m", "tests.client.aio_child"],
            cwd=ROOT, env=env, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        self.assertEqual(proc.returncode, 0, proc.stderr.decode()[-2000:])
        result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        self.assertNotIn("error", result, result.get("error"))
        self.assertEqual(result["reactor"], "AsyncioSelectorReactor")
        self.assertTrue(result["same_ids"])
        self.assertTrue(result["loop_running"])
