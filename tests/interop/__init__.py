"""Interop drivers: run official RocketMQ clients in child processes for rmq tests."""
