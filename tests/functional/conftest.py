"""What the functional tests share: clients of the real local server (``local_api``)."""

from __future__ import annotations

from typing import Any

import pytest
from scanfleet.client import Client
from scanfleet.local.server import LocalServer


def no_wait(seconds: float) -> None:
    pass


def api_client(api: LocalServer, **options: Any) -> Client:
    """A client of the real local server; retries do not wait (a 5xx fails fast).
    ``options`` go to ``Client`` (``worker_id``, ``token``...)."""
    settings: dict[str, Any] = {"token": api.tokens.default_token, "sleep": no_wait, **options}
    return Client(url=api.url, **settings)


@pytest.fixture
def client(local_api: LocalServer) -> Client:
    """A client of the real local server; retries do not wait (a 5xx fails fast)."""
    return api_client(local_api)


@pytest.fixture
def api(local_api: LocalServer) -> list[str]:
    """The command line arguments that point ``scanfleet`` at the real local server."""
    return ["--url", local_api.url, "--token", local_api.tokens.default_token]
