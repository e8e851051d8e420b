"""``scanfleet worker``: the agent loop that claims and runs trials."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from scanfleet.cli._common import SubParsers, add_api_args, client_from


def register(sub: SubParsers) -> None:
    p = sub.add_parser("worker", help="the agent loop: claim, run, report, until done")
    add_api_args(p)
    p.add_argument("--scan", required=True)
    p.add_argument("--worker-id", default=None)
    p.add_argument("--logs", type=Path, default=Path("scanfleet-logs"))
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--max-trials", type=int, default=None)
    p.set_defaults(handler=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from scanfleet.runtime.agent import Agent

    agent = Agent(
        client_from(args),
        args.scan,
        worker_id=args.worker_id,
        logs_dir=args.logs,
        workdir=args.workdir,
        max_trials=args.max_trials,
    )
    poll = os.environ.get("SCANFLEET_POLL_INTERVAL")
    if poll:
        agent.poll_interval = float(poll)
    return int(agent.run())
