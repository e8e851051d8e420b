"""What several command groups share: API arguments and the client they make."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scanfleet import names

if TYPE_CHECKING:
    from scanfleet.client import Client

EXIT_USAGE = 2
SubParsers = argparse._SubParsersAction  # what register(sub) receives


def add_api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help=f"API URL (default: ${names.ENV_API_URL})")
    p.add_argument("--token", default=None, help=f"API token (default: ${names.ENV_TOKEN})")


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
    from scanfleet.client import Client

    return Client(url=args.url, token=args.token)
