"""``scanfleet scans ...``: look at and steer scans through the API. Every command that
takes SCAN accepts its id or its name (``_common.resolve_scan``)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from scanfleet.cli import _results, _search
from scanfleet.cli._common import (
    EXIT_USAGE,
    SubParsers,
    add_api_args,
    add_scan_command,
    client_from,
    scan_from,
)
from scanfleet.client import failure_reason, reason_line
from scanfleet.display import format_params, format_value

if TYPE_CHECKING:
    from scanfleet.client import Scan


def register(sub: SubParsers) -> None:
    scans = sub.add_parser("scans", help="look at and steer scans").add_subparsers(
        metavar="COMMAND"
    )
    p = scans.add_parser("list", help="your scans, newest first: id, status, trials, name")
    add_api_args(p)
    p.add_argument("--status", default=None, help="only scans in this status (e.g. RUNNING)")
    p.add_argument("--tag", default=None, help="only scans tagged key:value")
    p.set_defaults(handler=cmd_scans_list)
    for name, fn, text in (
        ("show", cmd_scans_show, "a scan's progress: trials by state, best value, status"),
        (
            "trials",
            cmd_scans_trials,
            "every trial of a scan: number, state, metric, params, why it failed",
        ),
        ("best", cmd_scans_best, "the best trial as JSON (several metrics: the Pareto front)"),
        ("cancel", cmd_scans_cancel, "stop a scan: no new trials, unfinished ones fail"),
    ):
        add_scan_command(scans, name, fn, help=text)
    p = add_scan_command(
        scans, "export", cmd_scans_export, help="the trials as CSV, JSON or an Optuna journal"
    )
    p.add_argument(
        "--format",
        choices=("csv", "json", "optuna-journal"),
        default="csv",
        help="csv (default), json (a list of trial records) or optuna-journal "
        "(for optuna-dashboard)",
    )
    p.add_argument("--tag", action="append", default=None, help="key:value; only those trials")
    p.add_argument(
        "-o", "--output", type=Path, default=None, help="write to this file (default: stdout)"
    )
    p = add_scan_command(
        scans, "extend", cmd_scans_extend, help="raise a scan's max_run (a finished one resumes)"
    )
    p.add_argument("--max-run", type=int, required=True, help="the new max_run (total trials)")
    p = add_scan_command(
        scans, "delete", cmd_scans_delete, help="delete a scan, its trials and results (for good)"
    )
    p.add_argument("--yes", action="store_true", help="do not ask: delete")
    _results.register(scans)
    _search.register(scans)


def cmd_scans_list(args: argparse.Namespace) -> int:
    scans = client_from(args).list_scans(status=args.status, tag=args.tag)
    print(f"{'scan':<14}{'status':<11}{'trials':>7}  name")
    for scan in scans:
        print(f"{scan.id:<14}{scan.status.value:<11}{scan.record.trial_count:>7}  {scan.name}")
    return 0


def cmd_scans_show(args: argparse.Namespace) -> int:
    scan = scan_from(args)
    print(scan.progress_line())
    print(f"status reason: {scan.record.status_reason or '-'}")
    return 0


def cmd_scans_trials(args: argparse.Namespace) -> int:
    """A line per trial; a failed one (or one whose last attempt failed) ends with
    ``reason: <why>`` on one line (``scans export`` has the reason in full)."""
    scan = scan_from(args)
    metric = scan.config.metric.name
    for t in scan.trials():
        value = format_value(t.values.get(metric))
        line = f"{t.number:>5} {t.state.value:<10} {metric}={value:<12} {format_params(t.params)}"
        reason = reason_line(failure_reason(t.record))
        print(f"{line}  reason: {reason}" if reason else line)
    return 0


def cmd_scans_best(args: argparse.Namespace) -> int:
    return _search.print_best(scan_from(args))


def cmd_scans_export(args: argparse.Namespace) -> int:
    """To ``-o FILE`` (then its path is printed), else to stdout (``> file`` or a pipe)."""
    scan = scan_from(args)
    tags = _search.parse_tags(args.tag)
    if args.output is None:
        with tempfile.TemporaryDirectory() as folder:
            path = _export(scan, args.format, tags, Path(folder) / "export")
            with path.open(encoding="utf-8") as f:
                shutil.copyfileobj(f, sys.stdout)
        return 0
    print(_export(scan, args.format, tags, args.output))
    return 0


def _export(scan: Scan, format: str, tags: dict[str, str], path: Path) -> Path:
    if format == "optuna-journal":
        return _results.export_journal(scan, path)
    if format == "csv":
        return scan.to_csv(path, tags=tags)
    records = [t.record for t in scan.trials()]
    kept = [r for r in records if all(r.tags.get(k) == v for k, v in tags.items())]
    path.write_text(json.dumps([r.model_dump(mode="json") for r in kept]), encoding="utf-8")
    return path


def cmd_scans_cancel(args: argparse.Namespace) -> int:
    print(scan_from(args, changes=True).cancel())
    return 0


def cmd_scans_extend(args: argparse.Namespace) -> int:
    print(scan_from(args, changes=True).extend(args.max_run))
    return 0


def cmd_scans_delete(args: argparse.Namespace) -> int:
    """Deleting cannot be undone: it needs ``--yes``, or a "y" typed at a terminal."""
    scan = scan_from(args, changes=True)
    what = f"scan {scan.id} ({scan.name!r}, {scan.status.value}, {scan.record.trial_count} trials)"
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"error: deleting {what} cannot be undone; add --yes", file=sys.stderr)
            return EXIT_USAGE
        answer = input(f"delete {what} and its results for good? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    scan.delete()
    print(f"deleted {what}")
    return 0
