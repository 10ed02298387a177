"""Access to the captured frames in ../shared/vectors (golden tests)."""

from __future__ import annotations

import os
from pathlib import Path

from twisted.trial.unittest import SkipTest


def vectors_dir() -> Path:
    """The shared vectors folder beside the checkout (or $RMQ_VECTORS)."""
    env = os.environ.get("RMQ_VECTORS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "vectors"


def vector_names() -> list[str]:
    d = vectors_dir()
    if not d.is_dir():
        raise SkipTest(f"vectors folder {d} not found")
    return sorted(p.name for p in d.glob("*.bin"))


def read_vector(name: str) -> bytes:
    """The whole captured frame, length prefix included."""
    return (vectors_dir() / name).read_bytes()
