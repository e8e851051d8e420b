"""``scanfleet scans report`` and ``scanfleet scans watch``: looking at a scan (the HTML
report, the live table), and the Optuna journal format of ``scans export``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from scanfleet.cli._common import SubParsers, add_scan_command, scan_from

if TYPE_CHECKING:
    from scanfleet.client import Scan


def register(scans: SubParsers) -> None:
    """Add ``report`` and ``watch`` to the ``scans`` group (``scans`` is its subparsers)."""
    p = add_scan_command(
        scans, "report", cmd_scans_report, help="write the HTML report of a scan (opens offline)"
    )
    p.add_argument("-o", "--output", type=Path, default=None, help="default: <scan id>.html")
    p = add_scan_command(
        scans, "watch", cmd_scans_watch, help="a live table of a scan until it ends"
    )
    p.add_argument("--interval", type=float, default=2.0, help="seconds between two looks")
    p.add_argument("--once", action="store_true", help="print one frame and exit")


def cmd_scans_report(args: argparse.Namespace) -> int:
    from scanfleet.report import ScanResults, write_report

    scan = scan_from(args)
    started = time.perf_counter()
    path = write_report(ScanResults.from_scan(scan), args.output or Path(f"{scan.id}.html"))
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - started:.1f}s)")
    return 0


def export_journal(scan: Scan, path: Path) -> Path:
    """``scans export --format optuna-journal``: for ``optuna-dashboard <file>``."""
    from scanfleet.report import ScanResults, write_journal

    return write_journal(ScanResults.from_scan(scan), path)


def cmd_scans_watch(args: argparse.Namespace) -> int:
    from rich.console import Console

    from scanfleet.report import WatchView, render_frame, watch

    if args.interval <= 0:
        raise ValueError("--interval must be > 0 seconds")
    scan = scan_from(args)
    if args.once:
        Console().print(render_frame(WatchView.fetch(scan)))
        return 0
    view = watch(scan, interval=args.interval)
    return 0 if view.scan.status.value == "COMPLETED" else 1
