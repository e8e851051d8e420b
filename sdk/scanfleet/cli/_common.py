"""What several command groups share: API arguments and the client they make."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from scanfleet import names

if TYPE_CHECKING:
    from scanfleet.client import Client

EXIT_USAGE = 2
SubParsers = argparse._SubParsersAction  # what register(sub) receives


def add_api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help=f"API URL (default: ${names.ENV_API_URL})")
    p.add_argument("--token", default=None, help=f"API token (default: ${names.ENV_TOKEN})")


def client_from(args: argparse.Namespace) -> Client:
    from scanfleet.client import Client

    return Client(url=args.url, token=args.token)
