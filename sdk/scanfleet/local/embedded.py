"""An API for a notebook or a script without a server to run first."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from scanfleet.client import Client
from scanfleet.names import ENV_API_URL


@contextlib.contextmanager
def api_client(state_dir: str | Path = ".scanfleet") -> Iterator[Client]:
    """A client of ``SCANFLEET_API_URL`` when it is set; else of a local API served from
    this process (loopback, SQLite in ``state_dir``) until the block ends."""
    if os.environ.get(ENV_API_URL):
        yield Client()
        return
    from scanfleet.local.auth import TokenStore
    from scanfleet.local.server import LocalServer, open_local_service
    from scanfleet.local.state_dir import prepare_state_dir

    prepare_state_dir(state_dir)  # 0700, its files 0600
    tokens = TokenStore(state_dir)
    with LocalServer(open_local_service(state_dir), tokens) as server:
        yield Client(url=server.url, token=tokens.default_token)
