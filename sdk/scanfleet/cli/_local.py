"""``scanfleet local run|serve``: scans on this machine, no AWS account."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from scanfleet import names
from scanfleet.cli._common import SubParsers


def register(sub: SubParsers) -> None:
    local = sub.add_parser("local", help="run scans on this machine").add_subparsers(
        metavar="COMMAND"
    )
    p = local.add_parser("run", help="run a scan here: API, SQLite store and N workers")
    p.add_argument("config", type=Path, help="the scan config (YAML or JSON)")
    p.add_argument(
        "--workers", type=int, default=4, help="worker processes running trials (default: 4)"
    )
    p.add_argument(
        "--state",
        type=Path,
        default=Path(".scanfleet"),
        help="folder of the SQLite store, tokens and checkpoints; run again to resume "
        "(default: .scanfleet)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("scanfleet-results"),
        help="folder of the results, a subfolder per scan (default: scanfleet-results)",
    )
    p.add_argument(
        "--name",
        default=None,
        help="scan name (default: the config's folder; plus '-<stem>' for a config file "
        "not named scan.yaml)",
    )
    p.add_argument("--plain", action="store_true", help="plain progress lines, no live bar")
    p.add_argument(
        "--gpus",
        default=None,
        help="GPUs to share among the workers: a count (2) or device ids (0,1); each worker "
        "gets whole slots of the scan's resources.gpus and runs one trial per slot, with its "
        "own CUDA_VISIBLE_DEVICES (at most --workers workers)",
    )
    p.set_defaults(handler=cmd_local_run)
    p = local.add_parser("serve", help="run only the API, for SDK users and remote workers")
    p.add_argument(
        "--state",
        type=Path,
        default=Path(".scanfleet"),
        help="folder of the SQLite store and tokens (default: .scanfleet)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8750, help="port to listen on (default: 8750)")
    p.set_defaults(handler=cmd_local_serve)


def cmd_local_run(args: argparse.Namespace) -> int:
    from scanfleet.local.run import LocalRun, RunOptions

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if not args.config.exists():
        raise FileNotFoundError(f"no such config file: {args.config}")
    options = RunOptions(
        config_path=args.config,
        workers=args.workers,
        state_dir=args.state,
        out_dir=args.out,
        name=args.name,
        gpus=args.gpus,
        progress=False if args.plain else None,
    )
    return LocalRun(options).run()


def cmd_local_serve(args: argparse.Namespace) -> int:
    from scanfleet.local.auth import TokenStore
    from scanfleet.local.server import LocalServer, open_local_service
    from scanfleet.local.state_dir import prepare_state_dir

    prepare_state_dir(args.state)  # 0700, its files 0600
    tokens = TokenStore(args.state)
    server = LocalServer(open_local_service(args.state), tokens, host=args.host, port=args.port)
    print(f"scanfleet API on {server.url} (state in {args.state})")
    print(
        f"export {names.ENV_API_URL}={server.url} {names.ENV_TOKEN}={tokens.default_token}",
        flush=True,  # read through a pipe while the server runs
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
