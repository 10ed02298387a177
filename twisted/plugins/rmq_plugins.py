"""twistd plugins of rmq: one ServiceMaker per line."""

from twisted.application.service import ServiceMaker

rmq_namesrv = ServiceMaker("rmq-namesrv", "rmq.namesrv.tap", "RocketMQ name server", "rmq-namesrv")
