"""Direction check of the search (bench/search_quality.py prints the full comparison):
the stateless TPE driven through the service with trials in flight beats random search
and stays near Optuna's own sequential TPE on 6-dim Hartmann."""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from search_quality import hartmann6, optuna_best, scanfleet_best  # noqa: E402


def random_best(trials: int, seed: int) -> float:
    rng = random.Random(seed)
    return min(hartmann6([rng.random() for _ in range(6)]) for _ in range(trials))


def test_batched_stateless_tpe_beats_random_search_and_tracks_sequential_tpe() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds, trials = range(4), 60
    ours = statistics.median(scanfleet_best(trials, s, inflight=4) for s in seeds)
    sequential = statistics.median(optuna_best(trials, s) for s in seeds)
    rand = statistics.median(random_best(trials, s) for s in seeds)
    assert ours < rand - 0.3, (ours, rand)
    assert ours < sequential + 0.6, (ours, sequential)
