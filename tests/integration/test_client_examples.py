"""Integration: the scripts in examples/ run to completion against real daemons.

Also the asyncio example, which is the end-to-end check of the client on Twisted's asyncio
reactor over real sockets (it runs in its own process: trial's reactor is already installed).
"""

from __future__ import annotations

import json
import os
import sys

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.integration.test_client_basic import ClientCluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ExampleTests(TestCase):
    timeout = 180

    async def run_example(self, c: ClientCluster, name: str, *args: str) -> str:
        env = dict(os.environ, PYTHONPATH=ROOT, HOME=c.tmp)
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            [os.path.join(ROOT, "examples", name), "--namesrv", c.ns.address, *args],
            env=env,
            path=ROOT,
            reactor=reactor,
        )
        self.assertEqual(code, 0, err.decode()[-3000:])
        return out.decode()

    async def test_examples(self) -> None:
        """producer, orderly, transactional and asyncio examples succeed and print results."""
        c = ClientCluster()
        await c.start_cluster(self)
        out = await self.run_example(c, "producer.py", "--count", "3")
        self.assertEqual(out.count("sent "), 3)
        self.assertIn("batch ids:", out)
        out = await self.run_example(c, "orderly.py")
        lines = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("queue")]
        for order in range(3):
            steps = [x.split(":")[1] for x in lines if x.startswith(f"order-{order}:")]
            self.assertEqual(steps, ["created", "paid", "shipped", "done"])
        out = await self.run_example(c, "transactional.py")
        self.assertIn("order 0: COMMIT_MESSAGE", out)
        self.assertIn("order 1: ROLLBACK_MESSAGE", out)
        out = await self.run_example(c, "asyncio_app.py", "--count", "4")
        result = json.loads(out.strip().splitlines()[-1])
        self.assertNotIn("error", result)
        self.assertEqual(result["reactor"], "AsyncioSelectorReactor")
        self.assertEqual(sorted(result["sent"]), sorted(result["received"]))
