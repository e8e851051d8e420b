"""The ``scanfleet`` command. User mistakes print a clear message, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scanfleet import names
from scanfleet.config import ConfigError, load_config
from scanfleet.errors import ScanfleetError

EXIT_USAGE = 2


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

    p = sub.add_parser("validate", help="check a scan config and summarise it")
    p.add_argument("config", type=Path)
    p.set_defaults(handler=cmd_validate)

    local = sub.add_parser("local", help="run scans on this machine").add_subparsers(
        metavar="COMMAND"
    )
    p = local.add_parser("run", help="run a scan here: API, SQLite store and N workers")
    p.add_argument("config", type=Path)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--state", type=Path, default=Path(".scanfleet"))
    p.add_argument("--out", type=Path, default=Path("scanfleet-results"))
    p.add_argument("--name", default=None, help="scan name (default: the config's folder)")
    p.add_argument("--plain", action="store_true", help="plain progress lines, no live bar")
    p.set_defaults(handler=cmd_local_run)
    p = local.add_parser("serve", help="run only the API, for SDK users and remote workers")
    p.add_argument("--state", type=Path, default=Path(".scanfleet"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8750)
    p.set_defaults(handler=cmd_local_serve)

    p = sub.add_parser("worker", help="the agent loop: claim, run, report, until done")
    _api_args(p)
    p.add_argument("--scan", required=True)
    p.add_argument("--worker-id", default=None)
    p.add_argument("--logs", type=Path, default=Path("scanfleet-logs"))
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--max-trials", type=int, default=None)
    p.set_defaults(handler=cmd_worker)

    scans = sub.add_parser("scans", help="look at and steer scans").add_subparsers(
        metavar="COMMAND"
    )
    p = scans.add_parser("list")
    _api_args(p)
    p.add_argument("--status", default=None)
    p.add_argument("--tag", default=None, help="key:value")
    p.set_defaults(handler=cmd_scans_list)
    for name, fn in (("show", cmd_scans_show), ("trials", cmd_scans_trials),
                     ("best", cmd_scans_best), ("cancel", cmd_scans_cancel)):  # fmt: skip
        p = scans.add_parser(name)
        _api_args(p)
        p.add_argument("scan")
        p.set_defaults(handler=fn)
    p = scans.add_parser("export")
    _api_args(p)
    p.add_argument("scan")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("-o", "--output", type=Path, default=None)
    p.set_defaults(handler=cmd_scans_export)
    p = scans.add_parser("extend")
    _api_args(p)
    p.add_argument("scan")
    p.add_argument("--max-run", type=int, required=True)
    p.set_defaults(handler=cmd_scans_extend)
    return parser


def _api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help=f"API URL (default: ${names.ENV_API_URL})")
    p.add_argument("--token", default=None, help=f"API token (default: ${names.ENV_TOKEN})")


def _client(args: argparse.Namespace) -> Any:
    from scanfleet.client import Client

    return Client(url=args.url, token=args.token)


# ---- commands ------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(config.summary() if hasattr(config, "summary") else config.model_dump_json(indent=2))
    if config.strategy.value == "grid":
        from scanfleet.search import GridStrategy

        grid = GridStrategy(config)
        distinct = grid.count_distinct()
        trials = min(distinct, config.max_run) if distinct is not None else config.max_run
        print(f"grid: {grid.size()} cells, {distinct} distinct; {trials} trials will run")
    return 0


def cmd_local_run(args: argparse.Namespace) -> int:
    from scanfleet.local.run import LocalRun, RunOptions

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    options = RunOptions(
        config_path=args.config,
        workers=args.workers,
        state_dir=args.state,
        out_dir=args.out,
        name=args.name,
        progress=False if args.plain else None,
    )
    if not args.config.exists():
        raise FileNotFoundError(f"no such config file: {args.config}")
    return LocalRun(options).run()


def cmd_local_serve(args: argparse.Namespace) -> int:
    from scanfleet.local.auth import TokenStore
    from scanfleet.local.server import LocalServer, open_local_service

    tokens = TokenStore(args.state)
    server = LocalServer(open_local_service(args.state), tokens, host=args.host, port=args.port)
    print(f"scanfleet API on {server.url} (state in {args.state})")
    print(f"export {names.ENV_API_URL}={server.url} {names.ENV_TOKEN}={tokens.default_token}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from scanfleet.runtime.agent import Agent

    poll = os.environ.get("SCANFLEET_POLL_INTERVAL")
    agent = Agent(
        _client(args),
        args.scan,
        worker_id=args.worker_id,
        logs_dir=args.logs,
        workdir=args.workdir,
        max_trials=args.max_trials,
    )
    if poll:
        agent.poll_interval = float(poll)
    return int(agent.run())


def cmd_scans_list(args: argparse.Namespace) -> int:
    scans = _client(args).list_scans(status=args.status, tag=args.tag)
    print(f"{'scan':<14}{'status':<11}{'trials':>7}  name")
    for scan in scans:
        print(f"{scan.id:<14}{scan.status.value:<11}{scan.record.trial_count:>7}  {scan.name}")
    return 0


def cmd_scans_show(args: argparse.Namespace) -> int:
    scan = _client(args).get_scan(args.scan)
    print(scan.progress_line())
    print(f"status reason: {scan.record.status_reason or '-'}")
    return 0


def cmd_scans_trials(args: argparse.Namespace) -> int:
    scan = _client(args).get_scan(args.scan)
    metric = scan.config.metric.name
    for t in scan.trials():
        value = t.values.get(metric)
        print(f"{t.number:>5} {t.state.value:<10} {metric}={value!s:<12} {json.dumps(t.params)}")
    return 0


def cmd_scans_best(args: argparse.Namespace) -> int:
    best = _client(args).get_scan(args.scan).best_trial()
    if best is None:
        print("no completed trial yet")
        return 1
    print(json.dumps({"trial_id": best.id, "params": best.params, "values": best.values}))
    return 0


def cmd_scans_export(args: argparse.Namespace) -> int:
    scan = _client(args).get_scan(args.scan)
    if args.format == "csv":
        path = args.output or Path(f"{scan.id}.csv")
        scan.to_csv(path)
    else:
        path = args.output or Path(f"{scan.id}.json")
        path.write_text(json.dumps([t.record.model_dump(mode="json") for t in scan.trials()]))
    print(path)
    return 0


def cmd_scans_cancel(args: argparse.Namespace) -> int:
    print(_client(args).get_scan(args.scan).cancel())
    return 0


def cmd_scans_extend(args: argparse.Namespace) -> int:
    print(_client(args).get_scan(args.scan).extend(args.max_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
