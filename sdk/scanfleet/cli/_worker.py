"""``scanfleet worker``: the agent loop that claims and runs trials; ``scanfleet worker
user-data``: the EC2 user-data script that runs that loop under systemd."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from scanfleet.cli._common import (
    EXIT_USAGE,
    SubParsers,
    add_api_args,
    client_from,
    resolve_scan,
)


def register(sub: SubParsers) -> None:
    p = sub.add_parser("worker", help="the agent loop: claim, run, report, until done")
    add_api_args(p)
    p.add_argument("--scan", default=None, help="the scan to work on, id or name (required)")
    p.add_argument(
        "--worker-id", default=None, help="this worker's name (default: <host>-<pid>-<random>)"
    )
    p.add_argument(
        "--logs",
        type=Path,
        default=Path("scanfleet-logs"),
        help="folder of the trials' output logs (default: scanfleet-logs)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder the trials run in; a relative script or input is looked for there "
        "(default: the current folder; a script uploaded with the scan runs anyway)",
    )
    p.add_argument(
        "--max-trials", type=int, default=None, help="stop after this many trials (default: none)"
    )
    p.add_argument(
        "--gpus",
        default=None,
        help="GPUs to share: a count (2) or device ids (0,1); runs as many trials at once as "
        "slots of the scan's resources.gpus fit, each with its own CUDA_VISIBLE_DEVICES",
    )
    p.set_defaults(handler=cmd_worker, worker_parser=p)
    _register_user_data(p.add_subparsers(metavar="ACTION"))


def _register_user_data(actions: SubParsers) -> None:
    ud = actions.add_parser(
        "user-data", help="print EC2 user-data that runs this worker under systemd"
    )
    add_api_args(ud)
    ud.add_argument("--scan", required=True, help="the scan the instance works on, id or name")
    ud.add_argument(
        "--auth",
        choices=["iam", "token"],
        default="iam",
        help="how the instance signs in: its instance profile (default) or a token",
    )
    ud.add_argument("--region", default=None, help="AWS region of the API (default: from URL)")
    ud.add_argument(
        "--wheel",
        default=None,
        help="scanfleet's wheel from your deployment: the stack's WorkerWheel output "
        "(s3://BUCKET/KEY#sha256=HEX), fetched with the instance role and its hash checked",
    )
    ud.add_argument(
        "--package",
        default=None,
        help="instead of --wheel: what pip installs, for a scanfleet you publish yourself",
    )
    ud.add_argument(
        "--setup",
        action="append",
        default=[],
        help="a shell line run in the work folder before the worker starts "
        "(fetch your code); repeatable",
    )
    ud.add_argument("--checkpoint-url", default=None, help="s3://bucket/prefix for checkpoints")
    ud.add_argument(
        "--shutdown-when-done",
        action="store_true",
        help="power the instance off when the scan is finished",
    )
    ud.set_defaults(handler=cmd_user_data)


def cmd_worker(args: argparse.Namespace) -> int:
    from scanfleet.runtime.agent import agent_from_env

    if not args.scan:
        args.worker_parser.print_usage(sys.stderr)
        print("scanfleet worker: error: --scan is required", file=sys.stderr)
        return EXIT_USAGE
    client = client_from(args)
    scan_id = resolve_scan(client, args.scan).id
    options = {  # relative folders: from where the command was typed
        "logs_dir": args.logs.absolute(),
        "workdir": args.workdir.absolute() if args.workdir else None,
        "max_trials": args.max_trials,
    }
    if args.gpus is not None:
        from scanfleet.runtime.slots import gpu_pool

        pool = gpu_pool(client, scan_id, args.gpus, os.environ, worker_id=args.worker_id, **options)
        return pool.run()
    agent = agent_from_env(client, scan_id, os.environ, worker_id=args.worker_id, **options)
    return int(agent.run())


def cmd_user_data(args: argparse.Namespace) -> int:
    from scanfleet.runtime.user_data import UserData, WheelRef

    client = client_from(args)  # the caller's credentials read the scan's requirements
    scan = resolve_scan(client, args.scan)
    config = scan.config
    requirements = config.requirements
    listed = isinstance(requirements, list)
    data = UserData(
        scan_id=scan.id,
        api_url=client.url,
        auth=args.auth,
        token=client.http.token if args.auth == "token" else None,
        region=args.region,
        wheel=WheelRef.parse(args.wheel) if args.wheel else None,
        package=args.package,
        requirements=config.requirement_specs() if listed else [],
        requirements_file=None if listed or requirements is None else str(requirements),
        setup=list(args.setup),
        checkpoint_url=args.checkpoint_url,
        shutdown_when_done=args.shutdown_when_done,
    )
    sys.stdout.write(data.script())
    return 0
