"""rmq: Apache RocketMQ 4.x architecture and remoting protocol on Twisted."""

__version__ = "0.1.0"
