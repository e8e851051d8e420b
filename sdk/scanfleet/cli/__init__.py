"""The ``scanfleet`` command. User mistakes print a clear message, never a traceback.

Each command group lives in its own module with a ``register(sub)`` function that adds its
subcommands; this module assembles them and maps errors to exit codes in one place.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from scanfleet import __version__
from scanfleet.cli import _dashboard, _deploy, _local, _scans, _validate, _worker
from scanfleet.cli._common import EXIT_USAGE
from scanfleet.config import ConfigError
from scanfleet.errors import ScanfleetError

COMMAND_GROUPS = (_validate, _local, _worker, _scans, _dashboard, _deploy)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. A reader that closed the pipe (``| head``) ends
    the command quietly with 0; Ctrl-C ends it with one line and 130, no traceback."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt:
        _flush_or_drop_stdout()
        return _interrupted()
    except (BrokenPipeError, SystemExit) as error:
        # rich turns a broken pipe into SystemExit(1); argparse's --help and usage errors
        # are SystemExits of their own, and go on
        if not _in_chain(error, BrokenPipeError):
            raise
        _drop_stdout()
        # a live display redrawing on its way out of Ctrl-C, into a ``tee`` that Ctrl-C
        # ended too, is still Ctrl-C
        return _interrupted() if _in_chain(error, KeyboardInterrupt) else 0


def _interrupted() -> int:
    print("scanfleet: interrupted", file=_unproxied(sys.stderr))
    return EXIT_INTERRUPTED


def _run(argv: Sequence[str] | None) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scanfleet", description="Hyperparameter scans, locally or on AWS Batch Spot GPUs."
    )
    parser.add_argument("--version", action="version", version=f"scanfleet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what scanfleet does")
    sub = parser.add_subparsers(metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def _in_chain(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``error``, or an exception it happened while handling, is a ``kind``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__context__
    return False


def _unproxied(stream: TextIO) -> TextIO:
    """The stream itself, not the proxy a live display (rich's) put in its place: Ctrl-C
    can leave that proxy behind, and it turns a closed pipe into SystemExit."""
    return getattr(stream, "rich_proxied_file", stream)


def _flush_or_drop_stdout() -> None:
    try:
        _unproxied(sys.stdout).flush()
    except BrokenPipeError:
        _drop_stdout()


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for a closed pipe is dropped
    instead of failing again when the interpreter flushes it on exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed on exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
