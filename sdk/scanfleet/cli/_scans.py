"""``scanfleet scans ...``: look at and steer scans through the API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scanfleet.cli import _results, _search
from scanfleet.cli._common import (
    EXIT_USAGE,
    SubParsers,
    add_api_args,
    add_scan_command,
    client_from,
)


def register(sub: SubParsers) -> None:
    scans = sub.add_parser("scans", help="look at and steer scans").add_subparsers(
        metavar="COMMAND"
    )
    p = scans.add_parser("list")
    add_api_args(p)
    p.add_argument("--status", default=None)
    p.add_argument("--tag", default=None, help="key:value")
    p.set_defaults(handler=cmd_scans_list)
    for name, fn in (("show", cmd_scans_show), ("trials", cmd_scans_trials),
                     ("best", cmd_scans_best), ("cancel", cmd_scans_cancel)):  # fmt: skip
        add_scan_command(scans, name, fn)
    p = add_scan_command(scans, "export", cmd_scans_export)
    p.add_argument("--format", choices=("csv", "json", "optuna-journal"), default="csv")
    p.add_argument("--tag", action="append", default=None, help="key:value; only those trials")
    p.add_argument("-o", "--output", type=Path, default=None)
    p = add_scan_command(scans, "extend", cmd_scans_extend)
    p.add_argument("--max-run", type=int, required=True)
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
    scan = client_from(args).get_scan(args.scan)
    print(scan.progress_line())
    print(f"status reason: {scan.record.status_reason or '-'}")
    return 0


def cmd_scans_trials(args: argparse.Namespace) -> int:
    scan = client_from(args).get_scan(args.scan)
    metric = scan.config.metric.name
    for t in scan.trials():
        value = t.values.get(metric)
        print(f"{t.number:>5} {t.state.value:<10} {metric}={value!s:<12} {json.dumps(t.params)}")
    return 0


def cmd_scans_best(args: argparse.Namespace) -> int:
    return _search.print_best(client_from(args).get_scan(args.scan))


def cmd_scans_export(args: argparse.Namespace) -> int:
    scan = client_from(args).get_scan(args.scan)
    if args.format == "optuna-journal":
        print(_results.export_journal(args))
        return 0
    tags = _search.parse_tags(args.tag)
    if args.format == "csv":
        path = args.output or Path(f"{scan.id}.csv")
        scan.to_csv(path, tags=tags)
    else:
        path = args.output or Path(f"{scan.id}.json")
        records = [t.record for t in scan.trials()]
        kept = [r for r in records if all(r.tags.get(k) == v for k, v in tags.items())]
        path.write_text(json.dumps([r.model_dump(mode="json") for r in kept]))
    print(path)
    return 0


def cmd_scans_cancel(args: argparse.Namespace) -> int:
    print(client_from(args).get_scan(args.scan).cancel())
    return 0


def cmd_scans_extend(args: argparse.Namespace) -> int:
    print(client_from(args).get_scan(args.scan).extend(args.max_run))
    return 0


def cmd_scans_delete(args: argparse.Namespace) -> int:
    """Deleting cannot be undone: it needs ``--yes``, or a "y" typed at a terminal."""
    scan = client_from(args).get_scan(args.scan)
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
