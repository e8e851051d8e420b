"""``scanfleet dashboard [SCAN]``: optuna-dashboard on a live scan (or on all your scans),
read-only, over the API — what it shows follows the trials as they finish."""

from __future__ import annotations

import argparse
import errno
import sys

from scanfleet.cli._common import (
    EXIT_USAGE,
    SCAN_HELP,
    SubParsers,
    add_api_args,
    client_from,
    resolve_scan,
)

DEFAULT_PORT = 8080


def register(sub: SubParsers) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve optuna-dashboard on a live scan (or on all your scans), read-only",
        description=(
            "Serve optuna-dashboard over the scanfleet API: each scan is an Optuna study,"
            " fetched again every --refresh seconds, so finished trials appear on the next"
            " reload. Read-only. `scans report` writes a static HTML file instead."
        ),
    )
    add_api_args(p)
    p.add_argument(
        "scan", nargs="?", default=None, help=f"{SCAN_HELP}; default: every scan of yours"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    p.add_argument(
        "--refresh",
        type=float,
        default=2.0,
        help="seconds an answer of the API is reused before asking again (default: 2)",
    )
    p.set_defaults(handler=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from scanfleet.report import DashboardDependencyError, dashboard_server

    if args.refresh < 0:
        raise ValueError("--refresh must be >= 0 seconds")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, not {args.port}")
    client = client_from(args)
    scan = resolve_scan(client, args.scan) if args.scan else None
    try:
        server = dashboard_server(
            client,
            scan.id if scan else None,
            host=args.host,
            port=args.port,
            ttl=args.refresh,
        )
    except DashboardDependencyError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ValueError(
                f"port {args.port} on {args.host} is in use: pass another --port (0: any)"
            ) from None
        raise
    shown = f"scan {scan.name} ({scan.id})" if scan else "your scans"
    page = f"{server.url}/dashboard" + ("/studies/0" if scan else "")
    print(f"optuna-dashboard of {shown}, read-only: {page}  (Ctrl-C stops)", flush=True)
    server.serve_forever()
    return 0
