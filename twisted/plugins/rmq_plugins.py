"""twistd plugins of rmq: one ServiceMaker per line."""

from twisted.application.service import ServiceMaker

rmq_namesrv = ServiceMaker("rmq-namesrv", "rmq.namesrv.tap", "RocketMQ name server", "rmq-namesrv")
rmq_broker = ServiceMaker("rmq-broker", "rmq.broker.tap", "RocketMQ broker", "rmq-broker")
rmq_all = ServiceMaker("rmq", "rmq.quickstart.tap", "Name server and broker in one process", "rmq")
