"""``scanfleet scans ...``: look at and steer scans through the API."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scanfleet.cli._common import SubParsers, add_api_args, client_from


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
        p = scans.add_parser(name)
        add_api_args(p)
        p.add_argument("scan")
        p.set_defaults(handler=fn)
    p = scans.add_parser("export")
    add_api_args(p)
    p.add_argument("scan")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("-o", "--output", type=Path, default=None)
    p.set_defaults(handler=cmd_scans_export)
    p = scans.add_parser("extend")
    add_api_args(p)
    p.add_argument("scan")
    p.add_argument("--max-run", type=int, required=True)
    p.set_defaults(handler=cmd_scans_extend)


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
    best = client_from(args).get_scan(args.scan).best_trial()
    if best is None:
        print("no completed trial yet")
        return 1
    print(json.dumps({"trial_id": best.id, "params": best.params, "values": best.values}))
    return 0


def cmd_scans_export(args: argparse.Namespace) -> int:
    scan = client_from(args).get_scan(args.scan)
    if args.format == "csv":
        path = args.output or Path(f"{scan.id}.csv")
        scan.to_csv(path)
    else:
        path = args.output or Path(f"{scan.id}.json")
        path.write_text(json.dumps([t.record.model_dump(mode="json") for t in scan.trials()]))
    print(path)
    return 0


def cmd_scans_cancel(args: argparse.Namespace) -> int:
    print(client_from(args).get_scan(args.scan).cancel())
    return 0


def cmd_scans_extend(args: argparse.Namespace) -> int:
    print(client_from(args).get_scan(args.scan).extend(args.max_run))
    return 0
