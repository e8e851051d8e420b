"""What several command groups share: API arguments and the client they make."""

from __future__ import annotations

import argparse
import atexit
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanfleet import names

if TYPE_CHECKING:
    from scanfleet.client import Client

EXIT_USAGE = 2
SubParsers = argparse._SubParsersAction  # what register(sub) receives


def add_api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help=f"API URL (default: ${names.ENV_API_URL})")
    p.add_argument("--token", default=None, help=f"API token (default: ${names.ENV_TOKEN})")
    p.add_argument(
        "--state",
        type=Path,
        default=Path(".scanfleet"),
        help="with no API URL: the local state of `scanfleet local run` (default: .scanfleet)",
    )


def add_scan_command(
    sub: SubParsers,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    **options: Any,
) -> argparse.ArgumentParser:
    """A subcommand about one scan: the API arguments, then SCAN. ``options`` go to
    ``add_parser`` (``help``); add the command's own arguments to what it returns."""
    p: argparse.ArgumentParser = sub.add_parser(name, **options)
    add_api_args(p)
    p.add_argument("scan")
    p.set_defaults(handler=handler)
    return p


def client_from(args: argparse.Namespace) -> Client:
    """A client of ``--url`` / ``$SCANFLEET_API_URL``; with neither, of the local state
    folder (``--state``), served from this process on loopback until it exits — so
    ``scanfleet scans ...`` works beside ``scanfleet local run`` with nothing to set up."""
    from scanfleet.client import Client
    from scanfleet.local.server import DB_FILE

    state: Path = args.state
    if args.url or os.environ.get(names.ENV_API_URL):
        return Client(url=args.url, token=args.token)
    if not (state / DB_FILE).is_file():
        raise ValueError(
            f"no scanfleet API: pass --url or set {names.ENV_API_URL} (`scanfleet local serve`"
            f" prints it), or run where `scanfleet local run` keeps its state ({state}/ not"
            " found; --state names another folder)"
        )
    return _embedded_client(state)


def _embedded_client(state: Path) -> Client:
    from scanfleet.client import Client
    from scanfleet.local.auth import TokenStore
    from scanfleet.local.server import LocalServer, open_local_service

    tokens = TokenStore(state)
    server = LocalServer(open_local_service(state), tokens)
    server.start()
    atexit.register(server.stop)
    return Client(url=server.url, token=tokens.default_token)
