"""rmq-admin's data plane: the default-topic route used to send to a new topic."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from rmq.admin import dataplane as dp
from rmq.common.errors import RemoteError
from rmq.common.route import BrokerData, QueueData, TopicRouteData
from rmq.remoting.codes import ResponseCode


class FakeAPI:
    """Knows only TBW102, served by one broker with 8 queues (the broker default)."""

    def topic_route(self, topic: str) -> Deferred[TopicRouteData]:
        if topic != dp.DEFAULT_TOPIC:
            return fail(RemoteError(ResponseCode.TOPIC_NOT_EXIST, f"no route for {topic}"))
        return succeed(
            TopicRouteData(
                [QueueData("broker-a", 8, 8, 7)],
                [BrokerData("DefaultCluster", "broker-a", {0: "127.0.0.1:10911"})],
            )
        )


class SendRouteTests(SynchronousTestCase):
    def test_new_topic_uses_default_route_capped(self) -> None:
        """A new topic is sent through TBW102's brokers on at most 4 queues, as the broker
        creates it with 4 (the Java producer caps the same way)."""
        api: Any = FakeAPI()
        route = self.successResultOf(dp.send_route(api, "Fresh"))
        targets = dp.queues(route, "Fresh", write=True)
        self.assertEqual([t.mq.queue_id for t in targets], [0, 1, 2, 3])
        self.assertEqual({t.addr for t in targets}, {"127.0.0.1:10911"})
