"""Request processors of the broker; each module exposes ``register(dispatcher, broker)``."""
