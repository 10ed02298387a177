"""A broker registers with every name server it is given; each serves its routes alone."""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from rmq.common.route import TopicRouteData
from rmq.remoting.client import RemotingClient
from rmq.remoting.codes import RequestCode, ResponseCode
from rmq.remoting.command import RemotingCommand
from tests.integration.cluster import start_broker, start_namesrv


class TwoNameServersTests(TestCase):
    timeout = 60

    async def _route(self, client: RemotingClient, ns: str, topic: str) -> RemotingCommand:
        cmd = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
        return await client.invoke(ns, cmd, 5)

    async def test_broker_registers_with_each(self) -> None:
        """Both name servers route TBW102 to the broker; one going away leaves the other."""
        self.tmp = os.path.abspath(self.mktemp())
        os.makedirs(self.tmp)
        ns1 = await start_namesrv(self, self.tmp, "ns1")
        ns2 = await start_namesrv(self, self.tmp, "ns2")
        broker = await start_broker(self, self.tmp, f"{ns1.address};{ns2.address}")
        client = RemotingClient(reactor)
        self.addCleanup(client.close)
        for ns in (ns1, ns2):
            resp = await self._route(client, ns.address, "TBW102")
            self.assertEqual(resp.code, ResponseCode.SUCCESS, resp.remark)
            route = TopicRouteData.from_json(resp.body or b"")
            self.assertEqual([b.brokerAddrs for b in route.brokerDatas], [{0: broker.address}])
        await ns1.stop()
        resp = await self._route(client, ns2.address, "TBW102")
        self.assertEqual(resp.code, ResponseCode.SUCCESS)
        # The broker stops cleanly with one name server gone: it unregisters from the other.
        await broker.stop()
        resp = await self._route(client, ns2.address, "TBW102")
        self.assertEqual(resp.code, ResponseCode.TOPIC_NOT_EXIST)
