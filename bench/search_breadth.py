"""What the search features cost per call, beside a reference measured in the same process.

1. PBT claim (SQLite): the first claim of a new generation (ranking, exploit, explore,
   checkpoint copy of a 1 MB folder) against a grid claim on the same store.
2. Warm start: an Optuna (TPE) claim with W earlier trials told to the sampler against a
   cold claim holding the same number of the scan's own trials.
3. The Pareto front of two metrics over N trials against the single-metric best.

    .venv/bin/python bench/search_breadth.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scanfleet.config import load_config
from scanfleet.records import TrialRecord, TrialState, trial_id_for
from scanfleet.service import ScanService
from scanfleet.service._results import best_of, pareto_front
from scanfleet.store import SQLiteTrialStore

OWNER = "bench"
SPACE = {
    "x": {"distribution": "uniform", "min": -5, "max": 5},
    "n": {"distribution": "int_uniform", "min": 1, "max": 64},
}


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def pbt_generation_claim(root: Path, population: int, repeat: int) -> tuple[float, float]:
    service = ScanService(SQLiteTrialStore(root / f"pbt-{population}.db"))
    times, grid_times = [], []
    for r in range(repeat):
        pbt = {"population_size": population, "max_generations": 2, "seed": r}
        config = {"strategy": "pbt", "metric": {"name": "loss"}, "parameters": SPACE,
                  "max_run": population * 2, "pbt": pbt}  # fmt: skip
        scan, _ = service.create_scan("pbt", config, owner=OWNER)
        for i in range(population):
            trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
            assert trial is not None
            folder = root / "ckpt" / trial.trial_id / "step-5"
            folder.mkdir(parents=True)
            (folder / "weights.bin").write_bytes(random.randbytes(1 << 20))
            service.checkpoint(trial.trial_id, 5, str(folder), owner=OWNER)
            service.complete(trial.trial_id, float(i), owner=OWNER)
        start = time.perf_counter()
        child = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
        times.append((time.perf_counter() - start) * 1000)
        assert child is not None and child.lineage is not None and child.lineage.generation == 1
        grid = {"strategy": "grid", "metric": {"name": "loss"},
                "parameters": {"a": {"values": list(range(population + 1))}}}  # fmt: skip
        gscan, _ = service.create_scan("grid", grid, owner=OWNER)
        for _ in range(population):
            t = service.claim_next_trial(gscan.scan_id, "w", owner=OWNER)
            assert t is not None
            service.complete(t.trial_id, 1.0, owner=OWNER)
        start = time.perf_counter()
        service.claim_next_trial(gscan.scan_id, "w", owner=OWNER)
        grid_times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), statistics.median(grid_times)


def finished(scan_id: str, n: int, seed: int) -> list[TrialRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        params = {"x": rng.uniform(-5, 5), "n": rng.randint(1, 64)}
        out.append(TrialRecord(
            scan_id=scan_id, trial_id=trial_id_for(scan_id, params), number=i, params=params,
            state=TrialState.COMPLETED, values={"loss": params["x"] ** 2, "ms": params["n"]},
        ))  # fmt: skip
    return out


def warm_vs_cold(root: Path, n: int, repeat: int) -> tuple[float, float]:
    store = SQLiteTrialStore(root / f"warm-{n}.db")
    service = ScanService(store)
    optuna_cfg = {"strategy": "optuna", "metric": {"name": "loss"}, "parameters": SPACE,
                  "optuna": {"seed": 1}, "max_run": n + 100}  # fmt: skip
    earlier, _ = service.create_scan("earlier", optuna_cfg, owner=OWNER)
    for t in finished(earlier.scan_id, n, 1):
        store.insert_trial(t)
    warm, _ = service.create_scan("warm", {**optuna_cfg, "warm_start_from": earlier.scan_id},
                                  owner=OWNER)  # fmt: skip

    def claim_warm() -> object:
        t = service.claim_next_trial(warm.scan_id, "w", owner=OWNER)
        assert t is not None
        return service.complete(t.trial_id, 1.0, owner=OWNER)

    def claim_cold() -> object:
        t = service.claim_next_trial(earlier.scan_id, "w", owner=OWNER)
        assert t is not None
        return service.complete(t.trial_id, 1.0, owner=OWNER)

    return median_ms(claim_warm, repeat), median_ms(claim_cold, repeat)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("| measure | size | ms (median) | reference | ref ms | ratio |")
        print("| --- | ---: | ---: | --- | ---: | ---: |")
        for population in (8, 32):
            pbt, grid = pbt_generation_claim(root, population, args.repeat)
            print(f"| pbt: first claim of generation 1 | P={population} | {pbt:.1f} "
                  f"| grid claim | {grid:.1f} | {pbt / grid:.2f} |")  # fmt: skip
        for n in (100, 1000):
            warm, cold = warm_vs_cold(root, n, args.repeat)
            print(f"| TPE claim, {n} warm-start trials | {n} | {warm:.1f} "
                  f"| TPE claim, {n} own trials | {cold:.1f} | {warm / cold:.2f} |")  # fmt: skip
        config = load_config({"strategy": "optuna", "parameters": SPACE,
                              "metrics": [{"name": "loss"}, {"name": "ms"}]})  # fmt: skip
        for n in (1000, 10000):
            trials = finished("sc0", n, 2)
            front = median_ms(lambda t=trials: pareto_front(t, config), args.repeat)
            best = median_ms(lambda t=trials: best_of(t, config), args.repeat)
            print(f"| Pareto front of 2 metrics | {n} | {front:.2f} | best of 1 metric "
                  f"| {best:.2f} | {front / best:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
