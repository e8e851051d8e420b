"""``scanfleet scans seeds|tag`` and the Pareto front of ``scans best``: what a search
yields, registered into the ``scans`` group."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from scanfleet.cli._common import (
    SubParsers,
    add_api_args,
    add_scan_command,
    client_from,
    scan_from,
)
from scanfleet.display import format_params

if TYPE_CHECKING:
    from scanfleet.client import Scan
    from scanfleet.records import SeedSummary


def register(scans: SubParsers) -> None:
    p = add_scan_command(
        scans,
        "seeds",
        cmd_scans_seeds,
        help="run the best parameters again with N seeds; show mean and spread",
    )
    p.add_argument("--n", type=int, default=None, help="queue seeds 0..n-1 (else: only show)")
    p.add_argument("--wait", action="store_true", help="wait until the seed runs are done")
    p.add_argument("--sem", action="store_true", help="show the SEM instead of the std")
    p = scans.add_parser("tag", help="merge key=value tags into a trial")
    add_api_args(p)
    p.add_argument("trial", help="a trial id (`scans best` and `scans export` show them)")
    p.add_argument("tags", nargs="+", metavar="KEY=VALUE", help="tags to merge (or key:value)")
    p.set_defaults(handler=cmd_scans_tag)


def parse_tags(items: list[str] | None) -> dict[str, str]:
    """``["k=v", "a:b"]`` → ``{"k": "v", "a": "b"}``.

    Raises:
        ValueError: an item has neither ``=`` nor ``:``.
    """
    tags = {}
    for item in items or []:
        sep = "=" if "=" in item else ":"
        key, found, value = item.partition(sep)
        if not found or not key:
            raise ValueError(f"a tag is key=value (or key:value), got {item!r}")
        tags[key] = value
    return tags


def cmd_scans_seeds(args: argparse.Namespace) -> int:
    scan = scan_from(args, changes=args.n is not None)
    if args.n is not None:
        if args.n < 1:
            raise ValueError("--n must be at least 1")
        scan.gather_seeds(args.n)
        print(f"queued seeds 0..{args.n - 1} of the best trial of {scan.id}")
    if args.wait:
        scan.wait()
    summary = scan.refresh().seeds
    if summary is None:
        print(f"no seed runs yet: scanfleet scans seeds {scan.id} --n 10")
        return 1
    print_seeds(summary, sem=args.sem)
    return 0


def print_seeds(summary: SeedSummary, *, sem: bool = False) -> None:
    shown = summary.model_copy(update={"spread": "sem"}) if sem else summary
    print(
        f"seeds of {summary.best_trial_id} ({summary.param}): "
        f"{summary.finished}/{summary.runs} finished; params {format_params(summary.params)}"
    )
    for line in shown.lines():
        print(f"  {line}")


def print_best(scan: Scan) -> int:
    """The best trial, or with several metrics the Pareto front, one JSON line each."""
    if len(scan.config.objectives()) > 1:
        front = scan.best_trials()
        if not front:
            print("no completed trial yet")
            return 1
        print(f"Pareto front: {len(front)} trials")
        for trial in front:
            print(
                json.dumps({"trial_id": trial.id, "params": trial.params, "values": trial.values})
            )
        return 0
    best = scan.best_trial()
    if best is None:
        print("no completed trial yet")
        return 1
    print(json.dumps({"trial_id": best.id, "params": best.params, "values": best.values}))
    return 0


def cmd_scans_tag(args: argparse.Namespace) -> int:
    trial = client_from(args).get_trial(args.trial).tag(parse_tags(args.tags))
    print(json.dumps({"trial_id": trial.id, "tags": trial.tags}))
    return 0
