"""The ``scanfleet`` command. User mistakes print a clear message, never a traceback.

Each command group lives in its own module with a ``register(sub)`` function that adds its
subcommands; this module assembles them and maps errors to exit codes in one place.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from scanfleet.cli import _deploy, _local, _scans, _validate, _worker
from scanfleet.cli._common import EXIT_USAGE
from scanfleet.config import ConfigError
from scanfleet.errors import ScanfleetError

COMMAND_GROUPS = (_validate, _local, _worker, _scans, _deploy)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_USAGE
    except ScanfleetError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scanfleet", description="Hyperparameter scans, locally or on AWS Batch Spot GPUs."
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser
