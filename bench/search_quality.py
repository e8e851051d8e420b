"""Search quality of the stateless, batched Optuna strategy against Optuna's own
sequential TPE, on 6-dim Hartmann (minimum -3.32237).

The scan is driven through the real service (``claim_next_trial``/``complete`` over SQLite)
with 8 trials in flight: each step completes the oldest running trial and claims a new
one, as 8 workers would. Two references with the same sampler settings: Optuna's
``study.optimize``, one trial at a time, and Optuna itself driven the same way as the
scan (ask/tell on one in-memory study, 8 in flight) — what 8 workers sharing one Optuna
storage would get. The gap between the two references is the price of parallelism.

    .venv/bin/python bench/search_quality.py [--trials 100] [--seeds 10] [--inflight 8]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import optuna
from scanfleet.service import ScanFinishedError, ScanService
from scanfleet.store import SQLiteTrialStore

HARTMANN_MIN = -3.32237
_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x: list[float]) -> float:
    total = 0.0
    for i in range(4):
        inner = sum(_A[i][j] * (x[j] - _P[i][j]) ** 2 for j in range(6))
        total -= _ALPHA[i] * math.exp(-inner)
    return total


def config(trials: int, seed: int, liar: bool = True) -> dict[str, Any]:
    return {
        "strategy": "optuna",
        "max_run": trials,
        "metric": {"name": "f", "goal": "minimize"},
        "optuna": {"sampler": "tpe", "seed": seed, "n_startup_trials": 10, "constant_liar": liar},
        "parameters": {f"x{i}": {"distribution": "uniform", "min": 0, "max": 1} for i in range(6)},
    }


def scanfleet_best(trials: int, seed: int, inflight: int, liar: bool = True) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        service = ScanService(SQLiteTrialStore(Path(tmp) / "q.db"))
        scan, _ = service.create_scan("hartmann", config(trials, seed, liar), owner="b")
        running: deque[Any] = deque()
        best = math.inf
        while True:
            while len(running) < inflight:
                try:
                    trial = service.claim_next_trial(scan.scan_id, "w", owner="b")
                except ScanFinishedError:
                    trial = None
                if trial is None:
                    break
                running.append(trial)
            if not running:
                return best
            trial = running.popleft()
            value = hartmann6([trial.params[f"x{i}"] for i in range(6)])
            best = min(best, value)
            service.complete(trial.trial_id, value, owner="b")


def optuna_best(trials: int, seed: int) -> float:
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, multivariate=True)
    study = optuna.create_study(sampler=sampler)
    study.optimize(
        lambda t: hartmann6([t.suggest_float(f"x{i}", 0, 1) for i in range(6)]), n_trials=trials
    )
    return float(study.best_value)


def optuna_batched_best(trials: int, seed: int, inflight: int) -> float:
    sampler = optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=10, multivariate=True, constant_liar=True
    )
    study = optuna.create_study(sampler=sampler)
    space = {f"x{i}": optuna.distributions.FloatDistribution(0, 1) for i in range(6)}
    running: deque[optuna.Trial] = deque()
    asked = 0
    while asked < trials or running:
        while asked < trials and len(running) < inflight:
            running.append(study.ask(space))  # sampled now, as a worker's claim is
            asked += 1
        trial = running.popleft()
        study.tell(trial, hartmann6([trial.params[f"x{i}"] for i in range(6)]))
    return float(study.best_value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--inflight", type=int, default=8)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"6-dim Hartmann (min {HARTMANN_MIN}), {args.trials} trials, TPE, "
          f"{args.inflight} in flight for scanfleet")  # fmt: skip
    columns = ("optuna sequential", f"optuna {args.inflight} in flight", "scanfleet (liar)",
               "scanfleet (no liar)")  # fmt: skip
    print(f"{'seed':>6}" + "".join(f"{c:>22}" for c in columns))
    rows = []
    for seed in range(args.seeds):
        row = (
            optuna_best(args.trials, seed),
            optuna_batched_best(args.trials, seed, args.inflight),
            scanfleet_best(args.trials, seed, args.inflight),
            scanfleet_best(args.trials, seed, args.inflight, liar=False),
        )
        rows.append(row)
        print(f"{seed:>6}" + "".join(f"{v:>22.4f}" for v in row), flush=True)
    medians = [statistics.median(col) for col in zip(*rows, strict=True)]
    print(f"{'median':>6}" + "".join(f"{v:>22.4f}" for v in medians))
    print(f"scanfleet (liar) minus optuna sequential: {medians[2] - medians[0]:+.4f}")
    n = args.inflight
    print(f"scanfleet (liar) minus optuna {n} in flight: {medians[2] - medians[1]:+.4f}")
    print(f"optuna {args.inflight} in flight minus optuna sequential: "
          f"{medians[1] - medians[0]:+.4f}  (the price of parallelism)")  # fmt: skip


if __name__ == "__main__":
    main()
