"""What orchestrating one trial costs in AWS, counted from a real run of the stack in moto.

Synthesises the stack, deploys it into moto, creates a remote scan through the API
Lambda and lets the REAL state machine run it (the harness of ``tests/cloud``: Lambda
tasks run our handlers in-process, Batch jobs run the worker's entrypoint, which talks to
the API on loopback). Then counts, per trial: state transitions (states entered, from the
execution history), Lambda invocations by function, API requests the job made (in AWS each
is an API Gateway request and an API Lambda run), DynamoDB read and write requests, and
prices them per 1,000 trials at us-east-1 list prices. Batch and EC2 are not counted (the
GPU is the job's cost, not the orchestration's); the last line compares the two.

    .venv/bin/python bench/cloud_cost.py [--trials 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

from scanfleet.cloud._history import (  # noqa: E402
    EVENTS_PER_LANE_END,
    EVENTS_PER_TRIAL,
    EVENTS_PER_WAIT,
)

from tests.cloud.harness import (  # noqa: E402
    Cloud,
    count_history,
    execution_history,
    running_cloud,
    synth_template,
)

# us-east-1 list prices (USD)
STEP_FUNCTIONS_PER_TRANSITION = 0.025 / 1_000  # Standard workflows
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86
API_GATEWAY_REST_PER_REQUEST = 3.50 / 1_000_000
DYNAMODB_PER_READ_UNIT = 0.125 / 1_000_000  # on-demand
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1_000_000
LAMBDA_MEMORY_GB = {"lambdas.api.handler": 0.5}  # the orchestration functions have 1 GB
# what the GPU costs for comparison: a 30-minute trial on a g5.xlarge at an assumed
# Spot price of $0.40/h (On-Demand list: $1.006/h)
GPU_TRIAL_COST = 0.40 * 0.5
HEARTBEAT_TRIAL_S = 30 * 60

READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def scan_config(trials: int, workers: int) -> dict[str, Any]:
    return {
        "strategy": "grid",
        "command": "python steps.py",
        "metric": {"name": "steps", "goal": "maximize"},
        "execution": {"type": "remote", "max_worker": workers, "lease_seconds": 3},
        "parameters": {
            "steps": {"value": 10},
            "every": {"value": 5},
            "seed": {"values": list(range(trials))},
        },
    }


def run(trials: int, workers: int) -> tuple[Cloud, list[dict[str, Any]], float]:
    template = synth_template()
    monkeypatch = pytest.MonkeyPatch()
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            running_cloud(template, Path(tmp), monkeypatch) as cloud,
        ):
            started = time.perf_counter()
            status, body = cloud.api(
                "POST", "/scans", {"name": "cost", "config": scan_config(trials, workers)}
            )
            assert status == 201, body
            executions = cloud.wait_for_executions(timeout=300)
            elapsed = time.perf_counter() - started
            events: list[dict[str, Any]] = []
            for execution in executions:
                events += execution_history(execution["executionArn"])
            scan_id = body["scan"]["scan_id"]
            done = cloud.service.store.counts(scan_id)
            assert sum(done.values()) == trials, done
            return cloud, events, elapsed
    finally:
        monkeypatch.undo()


def row(name: str, per_trial: float, unit_price: float) -> tuple[str, float, float]:
    return name, per_trial, per_trial * unit_price * 1_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cloud, events, elapsed = run(args.trials, args.workers)
    n = args.trials
    transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
    count = count_history(events)

    lambda_rows = []
    by_handler: dict[str, int] = {}
    gb_seconds = 0.0
    for handler, seconds in cloud.lambdas.seconds:
        by_handler[handler] = by_handler.get(handler, 0) + 1
        gb_seconds += seconds * LAMBDA_MEMORY_GB.get(handler, 1.0)
    api_requests = sum(cloud.requests.api.values())
    for handler, calls in sorted(by_handler.items()):
        lambda_rows.append(
            row(f"Lambda {handler.removeprefix('lambdas.')} runs", calls / n, LAMBDA_PER_REQUEST)
        )
    reads = sum(v for k, v in cloud.requests.dynamodb.items() if k in READS)
    writes = sum(v for k, v in cloud.requests.dynamodb.items() if k in WRITES)
    transact = cloud.requests.dynamodb.get("TransactWriteItems", 0)

    rows = [
        row("state transitions", transitions / n, STEP_FUNCTIONS_PER_TRANSITION),
        *lambda_rows,
        row("API requests from jobs (API Gateway)", api_requests / n, API_GATEWAY_REST_PER_REQUEST),
        row("API requests from jobs (API Lambda runs)", api_requests / n, LAMBDA_PER_REQUEST),
        row("Lambda GB-seconds (measured here)", gb_seconds / n, LAMBDA_PER_GB_SECOND),
        row("DynamoDB reads (requests, ≤4 KB)", reads / n, DYNAMODB_PER_READ_UNIT),
        # a transactional write costs 2 units per item
        row("DynamoDB writes (units; tx ×2)", (writes + transact) / n, DYNAMODB_PER_WRITE_UNIT),
    ]
    total = sum(r[2] for r in rows)
    # A real trial heartbeats all along (every lease/3: 20 s at the default 60 s lease);
    # the trials here last a second. One heartbeat: an API request (API Gateway + API
    # Lambda, ~20 ms at 0.5 GB), a read of the trial and the scan, one conditional write.
    beats = HEARTBEAT_TRIAL_S / (60 / 3)
    beat_cost = (
        API_GATEWAY_REST_PER_REQUEST
        + LAMBDA_PER_REQUEST
        + 0.020 * 0.5 * LAMBDA_PER_GB_SECOND
        + 2 * DYNAMODB_PER_READ_UNIT
        + DYNAMODB_PER_WRITE_UNIT
    )
    heartbeat_row = (f"heartbeats of a {HEARTBEAT_TRIAL_S // 60}-min trial (modelled)", beats,
                     beats * beat_cost * 1_000)  # fmt: skip
    print(f"remote scan: {n} trials, {args.workers} lanes ({elapsed:.1f} s in moto); "
          f"{len(events)} history events\n")  # fmt: skip
    print(f"{'per trial':<46} {'count':>9} {'$ / 1,000 trials':>17}")
    print("-" * 74)
    for name, per_trial, cost in rows:
        print(f"{name:<46} {per_trial:>9.2f} {cost:>17.4f}")
    print("-" * 74)
    print(f"{'orchestration total (measured)':<46} {'':>9} {total:>17.4f}")
    print(f"{heartbeat_row[0]:<46} {heartbeat_row[1]:>9.2f} {heartbeat_row[2]:>17.4f}")
    total += heartbeat_row[2]
    print(f"{'total with heartbeats':<46} {'':>9} {total:>17.4f}")
    print()
    runs, waits, lanes = (count.visits.get(s, 0) for s in ("RunTrial", "Idle", "LaneEnd"))
    overhead = count.total - (
        runs * EVENTS_PER_TRIAL + waits * EVENTS_PER_WAIT + lanes * EVENTS_PER_LANE_END
    )
    print(f"history: {count.per_trial:.0f} events per trial (claim, choice, run, finish); "
          f"{runs} runs × 18 + {waits} idle polls × 9 + {lanes} lane ends × 11 + "
          f"{overhead} fixed = {count.total}")  # fmt: skip
    print(f"state transitions per trial: {transitions / n:.2f}")
    print("DynamoDB requests by action:", dict(sorted(cloud.requests.dynamodb.items())))
    print("API requests by route:", dict(sorted(cloud.requests.api.items())))
    gpu = GPU_TRIAL_COST * 1_000
    print(f"\nGPU for 1,000 30-min trials (g5.xlarge Spot at $0.40/h, assumed): ${gpu:,.2f}; "
          f"orchestration / GPU = {total / gpu:.5f} ({100 * total / gpu:.3f} %)")  # fmt: skip


if __name__ == "__main__":
    main()
