"""What the compat tests share: the loops they open are closed when each test ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest


class Closable(Protocol):
    def close(self) -> None: ...


OPENED: list[Closable] = []  # Oscar loops and Schedy databases the current test opened


@pytest.fixture(autouse=True)
def _stop_heartbeats() -> Iterator[None]:
    """Jobs a test leaves out stop being heartbeated when it ends (its server is gone)."""
    yield
    while OPENED:
        OPENED.pop().close()
