"""Claim latency against the number of finished trials, for both stores, cold and warm.

Prints p50/p95 of ``ScanService.claim_next_trial`` on an Optuna (TPE) scan holding N
finished trials, beside a bare Optuna ``ask`` on an in-memory study holding the same
trials, and the ratio of the p50s:

- **warm**: one API process claiming over and over (its live study catches up from the
  trials changed since its last claim);
- **cold**: a fresh process (a new service and store object) for each claim: the first
  claim builds the study from every trial.

Rows marked ``(moto)`` measure DynamoDB under moto, in-process: moto's latency is not
DynamoDB's, and moto deep-copies the whole table on every transaction, so sizes above
``--moto-max`` are skipped. Their ``items/claim`` column counts the DynamoDB items a warm
claim reads (from the answers of GetItem, BatchGetItem, Query and Scan, through a
botocore event hook): constant in the number of trials is the target. The last rows
time grid and random claims (warm, SQLite).

    .venv/bin/python bench/claim.py [--sizes 100,1000,5000] [--claims 15] [--cold 5]
        [--clock wall|cpu]

``--clock cpu`` times with ``time.process_time`` (this process's CPU time): on a machine
shared with other work, wall-clock times measure the neighbours too.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from scanfleet.records import TrialRecord, TrialState, trial_id_for
from scanfleet.search import build_study, to_distribution
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore, SQLiteTrialStore, TrialStore

OWNER = "bench"
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter
PARAMETERS = {
    "x": {"distribution": "uniform", "min": -5, "max": 5},
    "y": {"distribution": "log_uniform", "min": 1e-4, "max": 1},
    "n": {"distribution": "int_uniform", "min": 1, "max": 64},
}
CONFIG = {
    "strategy": "optuna",
    "metric": {"name": "loss", "goal": "minimize"},
    "optuna": {"seed": 1},
    "parameters": PARAMETERS,
}
RANDOM = {**CONFIG, "strategy": "random"}
GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "max_run": 2500,
    "parameters": {"a": {"values": list(range(50))}, "b": {"values": list(range(50))}},
}


class ItemsRead:
    """Counts the DynamoDB items read, from the answers (a botocore ``after-call`` hook)."""

    def __init__(self, client: Any) -> None:
        self.items = 0
        client.meta.events.register("after-call.dynamodb", self._count)

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "GetItem":
            self.items += 1 if "Item" in parsed else 0
        elif name in ("Query", "Scan"):
            self.items += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif name == "BatchGetItem":
            self.items += sum(len(v) for v in parsed.get("Responses", {}).values())


@dataclass
class Bench:
    """One store kind: how to open the store (again, as a new process would)."""

    name: str
    make: Callable[[], AbstractContextManager[Callable[[], TrialStore]]]
    counter: Callable[[TrialStore], ItemsRead | None] = lambda store: None


def fill(store: TrialStore, service: ScanService, config: dict[str, Any], n: int) -> str:
    scan, _ = service.create_scan("bench", {**config, "max_run": n + 1000}, owner=OWNER)
    rng = random.Random(0)
    for _ in range(n):
        params = {"x": rng.uniform(-5, 5), "y": 10 ** rng.uniform(-4, 0), "n": rng.randint(1, 64)}
        trial = TrialRecord(
            scan_id=scan.scan_id,
            trial_id=trial_id_for(scan.scan_id, params),
            number=0,
            params=params,
        )
        store.insert_trial(trial)
        store.finish_trial(
            trial.trial_id,
            TrialState.COMPLETED,
            now=time.time(),
            values={"loss": params["x"] ** 2 + params["y"]},
        )
    return scan.scan_id


def claim_once(service: ScanService, scan_id: str, worker: str) -> float:
    start = clock()
    trial = service.claim_next_trial(scan_id, worker, owner=OWNER)
    took = clock() - start
    assert trial is not None
    value = float(sum(v for v in trial.params.values() if isinstance(v, int | float)))
    service.complete(trial.trial_id, value, owner=OWNER)
    return took


def time_warm(
    service: ScanService, scan_id: str, claims: int, counter: ItemsRead | None
) -> tuple[list[float], float | None]:
    claim_once(service, scan_id, "warm-up")  # builds the live study (the cold claim)
    out, items = [], 0
    for i in range(claims):
        before = counter.items if counter else 0
        out.append(claim_once(service, scan_id, f"w{i}"))
        items += (counter.items - before) if counter else 0
    return out, (items / claims if counter else None)


def time_cold(open_store: Callable[[], TrialStore], scan_id: str, claims: int) -> list[float]:
    return [claim_once(ScanService(open_store()), scan_id, f"c{i}") for i in range(claims)]


def time_bare_ask(service: ScanService, scan_id: str, claims: int) -> list[float]:
    scan = service.get_scan(scan_id, owner=OWNER)
    config = service.config_of(scan)
    study = build_study(config, service.store.list_trials(scan_id))
    dists = {name: to_distribution(spec) for name, spec in config.parameters.items()}
    out = []
    for _ in range(claims):
        start = clock()
        study.ask(dists)
        out.append(clock() - start)
    return out


@contextmanager
def sqlite_store() -> Iterator[Callable[[], TrialStore]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield lambda: SQLiteTrialStore(Path(tmp) / "bench.db")


@contextmanager
def dynamodb_store() -> Iterator[Callable[[], TrialStore]]:
    import boto3
    from moto import mock_aws
    from scanfleet.store import create_table

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "bench")
        yield lambda: DynamoDBTrialStore("bench", client=client)


def pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 1 else xs[0]


def row(name: str, n: int, mode: str, claims: list[float], ask: float | None, items: Any) -> str:
    c50, c95 = pct(claims, 50), pct(claims, 95)
    ratio = f"{c50 / ask:>7.2f}" if ask else f"{'-':>7}"
    asked = f"{ask * 1e3:>8.1f}ms" if ask else f"{'-':>10}"
    read = f"{items:>12.1f}" if isinstance(items, float) else f"{'-':>12}"
    return f"{name:<18}{n:>9}{mode:>6}{c50 * 1e3:>9.1f}ms{c95 * 1e3:>9.1f}ms{asked}{ratio}{read}"


def optuna_rows(bench: Bench, n: int, args: argparse.Namespace) -> Iterator[str]:
    with bench.make() as open_store:
        store = open_store()
        service = ScanService(store)
        counter = bench.counter(store)
        scan_id = fill(store, service, CONFIG, n)
        warm, items = time_warm(service, scan_id, args.claims, counter)
        cold = time_cold(open_store, scan_id, args.cold)
        ask = pct(time_bare_ask(service, scan_id, args.claims), 50)
    yield row(bench.name, n, "warm", warm, ask, items)
    yield row(bench.name, n, "cold", cold, ask, None)


def other_rows(n: int, args: argparse.Namespace) -> Iterator[str]:
    for label, config in (("sqlite grid", GRID), ("sqlite random", RANDOM)):
        with sqlite_store() as open_store:
            store = open_store()
            service = ScanService(store)
            if config is GRID:
                scan, _ = service.create_scan("grid", GRID, owner=OWNER)
                scan_id = scan.scan_id
                for i in range(n):
                    claim_once(service, scan_id, f"f{i}")
            else:
                scan_id = fill(store, service, config, n)
            warm, _ = time_warm(service, scan_id, args.claims, None)
        yield row(label, n, "warm", warm, None, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument(
        "--moto-max",
        type=int,
        default=1000,
        help="largest size run on DynamoDB under moto: moto deep-copies the whole table on "
        "every transaction (its rollback copy), so 5,000 trials take over 20 GB",
    )
    parser.add_argument("--claims", type=int, default=15, help="warm claims timed")
    parser.add_argument("--cold", type=int, default=5, help="cold claims timed")
    parser.add_argument("--others-at", type=int, default=1000, help="grid/random size")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    print(f"clock: {args.clock}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    benches = [
        Bench("sqlite", sqlite_store),
        Bench(
            "dynamodb (moto)",
            dynamodb_store,
            lambda store: ItemsRead(store.client),  # type: ignore[attr-defined]
        ),
    ]
    header = (
        f"{'store':<18}{'finished':>9}{'mode':>6}{'claim p50':>11}{'claim p95':>11}"
        f"{'ask p50':>10}{'ratio':>7}{'items/claim':>12}"
    )
    print(header)
    print("-" * len(header))
    for bench in benches:
        for n in (int(s) for s in args.sizes.split(",")):
            if bench.name.endswith("(moto)") and n > args.moto_max:
                print(f"{bench.name:<18}{n:>9}  skipped: over --moto-max {args.moto_max}")
                continue
            for line in optuna_rows(bench, n, args):
                print(line, flush=True)
    for line in other_rows(args.others_at, args):
        print(line, flush=True)


if __name__ == "__main__":
    main()
