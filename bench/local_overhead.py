"""Per-trial overhead of local mode: a scan whose trials do nothing, run with 1, 4 and 8
workers through the whole stack (CLI worker processes → HTTP → API → service → SQLite),
beside Optuna's own ``study.optimize`` with the same sampler on SQLite storage.

    .venv/bin/python bench/local_overhead.py [--trials 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def scanfleet_run(trials: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "noop").mkdir()
        (root / "noop" / "scan.yaml").write_text(SCAN.format(trials=trials))
        (root / "noop" / "noop.py").write_text(NOOP)
        env = {**os.environ, "SCANFLEET_POLL_INTERVAL": "0.05"}
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "scanfleet.cli",
                "local",
                "run",
                "noop/scan.yaml",
                "--workers",
                str(workers),
                "--plain",
            ],  # fmt: skip
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def optuna_run(trials: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/optuna.db"
        start = time.perf_counter()
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = args.trials
    reference = optuna_run(n)
    print(f"{n} no-op trials (random sampler); each scanfleet trial is a new Python process")
    print(f"{'runner':<34}{'wall s':>8}{'trials/s':>10}{'ms/trial':>10}{'vs optuna':>11}")
    print(f"{'optuna study.optimize (sqlite)':<34}{reference:>8.2f}{n / reference:>10.1f}"
          f"{reference / n * 1e3:>10.1f}{1.0:>11.1f}")  # fmt: skip
    for workers in (1, 4, 8):
        wall = scanfleet_run(n, workers)
        print(f"{f'scanfleet local run, {workers} worker(s)':<34}{wall:>8.2f}{n / wall:>10.1f}"
              f"{wall / n * 1e3:>10.1f}{wall / reference:>11.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
