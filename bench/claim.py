"""Claim latency against the number of finished trials, for both stores.

Prints p50/p95 of ``ScanService.claim_next_trial`` on an Optuna (TPE) scan holding N
finished trials, beside a bare Optuna ``ask`` on an in-memory study holding the same
trials, and the ratio. DynamoDB runs under moto (in-process, no network).

    .venv/bin/python bench/claim.py [--sizes 100,1000,5000] [--claims 15]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from scanfleet.records import TrialRecord, TrialState, trial_id_for
from scanfleet.search import build_study
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore, SQLiteTrialStore, TrialStore

OWNER = "bench"
CONFIG = {
    "strategy": "optuna",
    "metric": {"name": "loss", "goal": "minimize"},
    "optuna": {"seed": 1},
    "parameters": {
        "x": {"distribution": "uniform", "min": -5, "max": 5},
        "y": {"distribution": "log_uniform", "min": 1e-4, "max": 1},
        "n": {"distribution": "int_uniform", "min": 1, "max": 64},
    },
}


def fill(store: TrialStore, service: ScanService, n: int, claims: int) -> str:
    scan, _ = service.create_scan("bench", {**CONFIG, "max_run": n + claims + 5}, owner=OWNER)
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


def time_claims(service: ScanService, scan_id: str, claims: int) -> list[float]:
    out = []
    for i in range(claims):
        start = time.perf_counter()
        trial = service.claim_next_trial(scan_id, f"w{i}", owner=OWNER)
        out.append(time.perf_counter() - start)
        assert trial is not None
        service.complete(trial.trial_id, trial.params["x"] ** 2, owner=OWNER)
    return out


def time_bare_ask(service: ScanService, scan_id: str, claims: int) -> list[float]:
    scan = service.get_scan(scan_id, owner=OWNER)
    config = service.config_of(scan)
    study = build_study(config, service.store.list_trials(scan_id))
    from scanfleet.search import to_distribution

    dists = {name: to_distribution(spec) for name, spec in config.parameters.items()}
    out = []
    for _ in range(claims):
        start = time.perf_counter()
        study.ask(dists)
        out.append(time.perf_counter() - start)
    return out


@contextmanager
def sqlite_store() -> Iterator[TrialStore]:
    with tempfile.TemporaryDirectory() as tmp:
        yield SQLiteTrialStore(Path(tmp) / "bench.db")


@contextmanager
def dynamodb_store() -> Iterator[TrialStore]:
    import boto3
    from moto import mock_aws
    from scanfleet.store import create_table

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "bench")
        yield DynamoDBTrialStore("bench", client=client)


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 1 else xs[0]


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
    parser.add_argument("--claims", type=int, default=15)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stores: dict[str, Callable[[], contextmanager]] = {  # type: ignore[type-arg]
        "sqlite": sqlite_store,
        "dynamodb (moto)": dynamodb_store,
    }
    header = (
        f"{'store':<16}{'finished':>9}{'claim p50':>11}{'claim p95':>11}{'ask p50':>10}{'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, make in stores.items():
        for n in (int(s) for s in args.sizes.split(",")):
            if name.endswith("(moto)") and n > args.moto_max:
                print(f"{name:<16}{n:>9}  skipped: over --moto-max {args.moto_max}")
                continue
            with make() as store:
                service = ScanService(store)
                scan_id = fill(store, service, n, args.claims)
                claims = time_claims(service, scan_id, args.claims)
                asks = time_bare_ask(service, scan_id, args.claims)
            c50, c95, a50 = pct(claims, 50), pct(claims, 95), pct(asks, 50)
            print(
                f"{name:<16}{n:>9}{c50 * 1e3:>9.1f}ms{c95 * 1e3:>9.1f}ms"
                f"{a50 * 1e3:>8.1f}ms{c50 / a50:>7.2f}"
            )


if __name__ == "__main__":
    main()
