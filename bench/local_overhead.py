"""Per-trial overhead of local mode (issue 15): a scan whose trials do nothing, run by

- ``scanfleet local run`` with 1 and 4 workers (worker processes → HTTP → API → service →
  SQLite; each trial a new Python process running ``current_trial()`` + ``complete()``);
- ``scanfleet.optimize`` with ``n_jobs`` 1 and 4 (the objective in this process, the
  embedded service over SQLite, results folder and report included);

beside Optuna's own ``study.optimize`` on SQLite (n_jobs 1 and 4, same random sampler)
and beside the floor of spawning ``python -c pass`` once per trial. Then the HTTP round
trips of one ``scanfleet worker`` per trial, by route, counted at a local server.

    .venv/bin/python bench/local_overhead.py [--trials 60] [--skip-local-run]

Targets: ``local run`` <= 3x Optuna's ms/trial at 1 worker; ``scanfleet.optimize``
<= 0.7x at n_jobs 1. Each row is one run (a shared machine: compare ratios, not ms).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

SCAN = """
strategy: random
command: python noop.py
max_run: {trials}
optuna: {{seed: 1}}
metric: {{name: loss, goal: minimize}}
parameters:
  x: {{distribution: uniform, min: 0, max: 1}}
"""
NOOP = "import scanfleet\nt = scanfleet.current_trial()\nt.complete(t.params['x'])\n"
CONFIG = {
    "strategy": "random",
    "max_run": 0,
    "optuna": {"seed": 1},
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
}
_ID = re.compile(r"(?<=/scans/)[^/?]+|(?<=/trials/)(?!claim)[^/?]+")


def floor_run(trials: int) -> float:
    """Spawning ``python -c pass`` once per trial, one after the other."""
    start = time.perf_counter()
    for _ in range(trials):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def local_run(trials: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "noop").mkdir()
        (root / "noop" / "scan.yaml").write_text(SCAN.format(trials=trials))
        (root / "noop" / "noop.py").write_text(NOOP)
        env = {**os.environ, "SCANFLEET_POLL_INTERVAL": "0.05"}
        argv = [sys.executable, "-m", "scanfleet.cli", "local", "run", "noop/scan.yaml",
                "--workers", str(workers), "--plain"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(argv, cwd=root, env=env, check=True, capture_output=True)
        return time.perf_counter() - start


def optuna_run(trials: int, n_jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/optuna.db"
        start = time.perf_counter()
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials, n_jobs=n_jobs)
        return time.perf_counter() - start


def optimize_run(trials: int, n_jobs: int) -> float:
    from scanfleet.local.optimize import optimize

    with tempfile.TemporaryDirectory() as tmp:
        config = {**CONFIG, "max_run": trials}
        state, out = Path(tmp) / "state", Path(tmp) / "results"
        start = time.perf_counter()
        optimize(lambda t: t.params["x"], config, name="noop", n_jobs=n_jobs, state=state,
                 out_dir=out)  # fmt: skip
        return time.perf_counter() - start


def warm_up() -> None:
    """Import what the first call of each runner would import (not a per-trial cost)."""
    optimize_run(1, 1)
    optuna_run(1, 1)


def round_trips(trials: int) -> tuple[Counter[str], int]:
    """The requests of one ``scanfleet worker`` (the agent loop of ``local run``) running
    ``trials`` no-op trials, by route, counted at a local server in this process."""
    from scanfleet.config import load_config
    from scanfleet.local.auth import TokenStore, owner_id
    from scanfleet.local.server import LocalServer, open_local_service

    seen: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "noop.py").write_text(NOOP)
        tokens = TokenStore(root / "state")
        service = open_local_service(root / "state")
        config = load_config(SCAN.format(trials=trials))
        scan, _ = service.create_scan("trips", config, owner=owner_id(tokens.default_token))
        with LocalServer(service, tokens) as server:
            server.app.resolve = _counting(server.app.resolve, seen)  # type: ignore[method-assign]
            env = {**os.environ, "SCANFLEET_API_URL": server.url,
                   "SCANFLEET_TOKEN": tokens.default_token, "SCANFLEET_POLL_INTERVAL": "0.05",
                   "SCANFLEET_STATE_DIR": str(root / "state")}  # fmt: skip
            argv = [sys.executable, "-m", "scanfleet.cli", "worker", "--scan", scan.scan_id,
                    "--logs", str(root / "logs"), "--workdir", str(root)]  # fmt: skip
            subprocess.run(argv, env=env, check=True, capture_output=True, timeout=600)
    return seen, trials


def _counting(resolve: Callable[..., Any], seen: Counter[str]) -> Callable[..., Any]:
    def counted(event: dict[str, Any], context: Any) -> Any:
        answer = resolve(event, context)
        route = _ID.sub("{id}", event["path"])
        seen[f"{event['httpMethod']} {route} {answer.get('statusCode')}"] += 1
        return answer

    return counted


def row(label: str, wall: float, n: int, reference: float) -> str:
    per = wall / n * 1e3
    return f"{label:<38}{wall:>8.2f}{n / wall:>10.1f}{per:>10.1f}{per / reference:>11.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--skip-local-run", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = args.trials
    warm_up()
    reference = optuna_run(n, 1) / n * 1e3
    print(f"{n} no-op trials (random sampler); 'vs optuna': ms/trial over Optuna's at n_jobs 1")
    print(f"{'runner':<38}{'wall s':>8}{'trials/s':>10}{'ms/trial':>10}{'vs optuna':>11}")
    print(row("optuna study.optimize (sqlite), 1 job", reference * n / 1e3, n, reference))
    print(row("optuna study.optimize (sqlite), 4 jobs", optuna_run(n, 4), n, reference))
    for jobs in (1, 4):
        print(row(f"scanfleet.optimize, n_jobs={jobs}", optimize_run(n, jobs), n, reference))
    marginal = ""
    if not args.skip_local_run:
        walls = {workers: local_run(n, workers) for workers in (1, 4)}
        for workers, wall in walls.items():
            print(row(f"scanfleet local run, {workers} worker(s)", wall, n, reference))
        fixed = local_run(1, 1)  # start (CLI, API, worker), results and report: once per run
        per = (walls[1] - fixed) / (n - 1) * 1e3
        marginal = (f"local run, 1 worker: {fixed:.2f} s once per run (a 1-trial run: start,"
                    f" results, report), then {per:.1f} ms per trial ({per / reference:.2f}x"
                    " optuna)")  # fmt: skip
    print(row("floor: spawn `python -c pass` per trial", floor_run(n), n, reference))
    if marginal:
        print(marginal)
    seen, trials = round_trips(min(n, 20))
    total = sum(seen.values())
    print(f"\nHTTP round trips of one `scanfleet worker`, {trials} no-op trials: "
          f"{total} ({total / trials:.2f} per trial)")  # fmt: skip
    for route, count in seen.most_common():
        print(f"  {route:<44}{count:>5}{count / trials:>8.2f}/trial")


if __name__ == "__main__":
    main()
