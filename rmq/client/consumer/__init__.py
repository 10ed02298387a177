"""Consumers: pull (explicit offsets) and push (rebalance, pull loops, listeners)."""
