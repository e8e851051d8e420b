"""What several command groups share: API arguments, the client they make, and the one
way a scan given on the command line (an id or a name) becomes a scan."""

from __future__ import annotations

import argparse
import atexit
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanfleet import names
from scanfleet.errors import NotFoundError

if TYPE_CHECKING:
    from scanfleet.client import Client, Scan

EXIT_USAGE = 2
SubParsers = argparse._SubParsersAction  # what register(sub) receives
SCAN_HELP = "the scan: its id, or its name (the newest scan of that name)"
_SCAN_ID = re.compile(r"sc[0-9a-z]{10}")


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
    """A subcommand about one scan: the API arguments, then SCAN (an id or a name).
    ``options`` go to ``add_parser`` (``help``); add the command's own arguments to what
    it returns."""
    p: argparse.ArgumentParser = sub.add_parser(name, **options)
    add_api_args(p)
    p.add_argument("scan", help=SCAN_HELP)
    p.set_defaults(handler=handler)
    return p


def resolve_scan(client: Client, ref: str, *, changes: bool = False) -> Scan:
    """The scan ``ref`` names: the scan with that id, else the newest of the caller's
    scans with that name (``scans list`` shows newest first). When several scans bear
    the name, a command that only looks takes the newest and says so on stderr; one that
    ``changes`` the scan (cancel, extend, delete, queue seeds) refuses and lists the ids.

    Raises:
        NotFoundError: no scan has that id or name (the API's 404 for an id-shaped ref).
        ValueError: ``changes`` and several scans bear the name.
    """
    from scanfleet.client import NotFoundError as APINotFound

    not_found: Exception = NotFoundError(
        f"no scan with id or name {ref!r} (`scanfleet scans list` shows yours)"
    )
    if _SCAN_ID.fullmatch(ref):
        try:
            return client.get_scan(ref)
        except APINotFound as error:  # a name may look like an id: look among the names
            not_found = error
    named = [scan for scan in client.list_scans() if scan.name == ref]  # newest first
    if not named:
        raise not_found
    if len(named) > 1:
        ids = ", ".join(scan.id for scan in named)
        if changes:
            raise ValueError(f"{len(named)} scans are named {ref!r} ({ids}): pass the scan id")
        print(
            f"note: {len(named)} scans are named {ref!r} ({ids}); using the newest", file=sys.stderr
        )
    return client.get_scan(named[0].id)


def scan_from(args: argparse.Namespace, *, changes: bool = False) -> Scan:
    """The scan of ``args.scan`` (an id or a name) through ``client_from(args)``."""
    return resolve_scan(client_from(args), args.scan, changes=changes)


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
