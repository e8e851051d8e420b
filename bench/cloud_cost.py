"""What orchestrating a trial costs in AWS, from a real run of the stack in moto, priced
by capacity units and extrapolated to 100, 1,000 and 10,000 trials of 30 minutes.

Synthesises the stack, deploys it into moto, creates a remote TPE scan through the API
Lambda and lets the REAL state machine run it (the harness of ``tests/cloud``). Counts,
per trial: state transitions, Lambda runs, API requests, DynamoDB read and write units
from item sizes (``bench/dynamodb_units.py``: transactions twice, each index write at
its projection), and the units of one heartbeat; then prices them with the model of
``bench/cost_model.py`` (heartbeats at the interval a remote scan's default lease gives,
X-Ray at the template's sampling, public IPv4, CloudWatch Logs, fixed monthly items).
Then ``bench/report_reads.py``, in a process of its own: the DynamoDB read requests and
read units of a report and of a complete (the real store and use cases, the median
pruner deciding) as one scan grows to 100, 500 and 2,000 finished trials × 100 steps,
with the ratio 2,000/100 (constant is the target).

    .venv/bin/python bench/cloud_cost.py [--trials 8] [--workers 2] [--skip-reads]
        [--reads-trials 100 500 2000] [--reads-steps 100]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "sdk"), str(ROOT / "bench")]

import cost_model as m  # noqa: E402
from dynamodb_units import Units, count_units  # noqa: E402
from scanfleet.client.heartbeat import heartbeat_interval  # noqa: E402
from scanfleet.config import ScanConfig  # noqa: E402
from scanfleet.names import Metric  # noqa: E402
from scanfleet.records import TrialRecord, trial_id_for  # noqa: E402

from tests.cloud.harness import Cloud, running_cloud, synth_template  # noqa: E402

BEATS_MEASURED = 5


def scan_config(trials: int, workers: int) -> dict[str, Any]:
    return {
        "strategy": "optuna",
        "optuna": {"sampler": "tpe", "n_startup_trials": 2, "seed": 1},
        "max_run": trials,
        "command": "python steps.py",
        "metric": {"name": "steps", "goal": "maximize"},
        "execution": {"type": "remote", "max_worker": workers, "lease_seconds": 3},
        "parameters": {
            "steps": {"value": 10},
            "every": {"value": 5},
            "lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1},
        },
    }


def default_lease() -> float:
    """The lease a remote scan gets when its config names none."""
    config = scan_config(1, 1)
    del config["execution"]["lease_seconds"]
    return ScanConfig.model_validate(config).execution.lease_seconds


def run(trials: int, workers: int) -> dict[str, Any]:
    template = synth_template()
    monkeypatch = pytest.MonkeyPatch()
    units = Units()
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            count_units(monkeypatch, units),
            running_cloud(template, Path(tmp), monkeypatch) as cloud,
        ):
            started = time.perf_counter()
            status, body = cloud.api(
                "POST", "/scans", {"name": "cost", "config": scan_config(trials, workers)}
            )
            assert status == 201, body
            executions = cloud.wait_for_executions(timeout=600)
            elapsed = time.perf_counter() - started
            from tests.cloud.harness import execution_history

            events: list[dict[str, Any]] = []
            for execution in executions:
                events += execution_history(execution["executionArn"])
            scan_id = body["scan"]["scan_id"]
            done = cloud.service.store.counts(scan_id)
            assert sum(done.values()) == trials, done
            measured = {"reads": units.read_total(), "writes": units.write_total()}
            beat = heartbeat_units(cloud, scan_id, units)
            return {
                "cloud": cloud, "events": events, "elapsed": elapsed, "units": units,
                "measured": measured, "beat": beat, "executions": len(executions),
                "template": template,
            }  # fmt: skip
    finally:
        monkeypatch.undo()


def heartbeat_units(cloud: Cloud, scan_id: str, units: Units) -> tuple[float, float]:
    """The read and write units of one heartbeat as the API makes it: the scan (owner
    check), then the trial's compare-and-set (read, write)."""
    store = cloud.service.store
    params = {"steps": 10, "every": 5, "lr": 0.001}
    trial = TrialRecord(
        scan_id=scan_id, trial_id=trial_id_for(scan_id, params), number=0, params=params,
        created_at=time.time(),
    )  # fmt: skip
    store.insert_trial(trial)
    store.claim_trial(trial.trial_id, "w-beat", lease_seconds=60, now=time.time())
    claimed = store.get_trial(trial.trial_id)
    before = units.snapshot()
    for _ in range(BEATS_MEASURED):
        store.get_scan(scan_id)
        store.heartbeat(
            trial.trial_id, "w-beat", claimed.attempt, lease_seconds=60, now=time.time()
        )
    after = units.snapshot()
    return (
        (after[0] - before[0]) / BEATS_MEASURED,
        (after[1] - before[1]) / BEATS_MEASURED,
    )


def template_facts(template: dict[str, Any]) -> dict[str, Any]:
    resources = template["Resources"].values()
    kinds = [r["Type"] for r in resources]
    rules = [
        r["Properties"]["SamplingRule"] for r in resources if r["Type"] == "AWS::XRay::SamplingRule"
    ]
    beat_rule = next((r for r in rules if "heartbeat" in str(r.get("URLPath", ""))), None)
    stages = [r for r in resources if r["Type"] == "AWS::ApiGateway::Stage"]
    return {
        "alarms": kinds.count("AWS::CloudWatch::Alarm"),
        "dashboards": kinds.count("AWS::CloudWatch::Dashboard"),
        "metrics": len(Metric),
        "beat_rule": (
            (float(beat_rule["ReservoirSize"]), float(beat_rule["FixedRate"]))
            if beat_rule
            else m.DEFAULT_RULE
        ),
        "access_logs": any("AccessLogSetting" in s["Properties"] for s in stages),
    }


def rows_per_trial(result: dict[str, Any], n: int, lease: float) -> list[tuple[str, float, float]]:
    """(line, count per trial, $ per 1,000 trials) for the lines that scale with trials."""
    cloud: Cloud = result["cloud"]
    facts = template_facts(result["template"])
    events = result["events"]
    transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
    lambda_runs = len(cloud.lambdas.seconds)
    gb_seconds = sum(seconds * 1.0 for _, seconds in cloud.lambdas.seconds)
    api = sum(cloud.requests.api.values()) / n
    beats = m.TRIAL_S / heartbeat_interval(lease)
    interval = heartbeat_interval(lease)
    beat_reads, beat_writes = result["beat"]
    api_rate = m.LANES * api / m.TRIAL_S
    beat_rate = m.LANES / interval
    traces = api * m.sampled(api_rate) + beats * m.sampled(beat_rate, facts["beat_rule"])
    traces += result["executions"] / n
    requests = api + beats
    log_bytes = (lambda_runs / n + requests) * m.LOG_BYTES_PER_INVOCATION
    log_bytes += len(events) / n * m.LOG_BYTES_PER_EVENT
    if facts["access_logs"]:
        log_bytes += requests * m.LOG_BYTES_PER_ACCESS_LOG
    k = m.per_thousand
    return [
        ("state transitions", transitions / n, k(transitions / n, m.STEP_FUNCTIONS_PER_TRANSITION)),
        ("orchestration Lambda runs", lambda_runs / n, k(lambda_runs / n, m.LAMBDA_PER_REQUEST)),
        ("orchestration Lambda GB-s", gb_seconds / n, k(gb_seconds / n, m.LAMBDA_PER_GB_SECOND)),
        ("API requests but heartbeats (GW + Lambda)", api,
         k(api, m.API_GATEWAY_REST_PER_REQUEST + m.LAMBDA_PER_REQUEST)),
        ("DynamoDB read units (measured run)", result["measured"]["reads"] / n,
         k(result["measured"]["reads"] / n, m.DYNAMODB_PER_READ_UNIT)),
        ("DynamoDB write units (tx ×2, index copies)", result["measured"]["writes"] / n,
         k(result["measured"]["writes"] / n, m.DYNAMODB_PER_WRITE_UNIT)),
        (f"heartbeats (every {interval:.0f} s): requests", beats,
         k(beats, m.API_GATEWAY_REST_PER_REQUEST + m.LAMBDA_PER_REQUEST
           + m.BEAT_MS / 1000 * m.API_LAMBDA_GB * m.LAMBDA_PER_GB_SECOND)),
        ("heartbeats: DynamoDB read units", beats * beat_reads,
         k(beats * beat_reads, m.DYNAMODB_PER_READ_UNIT)),
        ("heartbeats: DynamoDB write units", beats * beat_writes,
         k(beats * beat_writes, m.DYNAMODB_PER_WRITE_UNIT)),
        ("X-Ray traces (sampled)", traces, k(traces, m.XRAY_PER_TRACE)),
        ("CloudWatch Logs KB", log_bytes / 1024, k(log_bytes / 1024**3, m.LOGS_PER_GB)),
    ]  # fmt: skip


def print_table(result: dict[str, Any], n: int, workers: int) -> None:
    lease = default_lease()
    rows = rows_per_trial(result, n, lease)
    facts = template_facts(result["template"])
    monthly = (
        facts["metrics"] * m.METRIC_PER_MONTH
        + facts["alarms"] * m.ALARM_PER_MONTH
        + facts["dashboards"] * m.DASHBOARD_PER_MONTH
    )
    ipv4 = m.PUBLIC_IPV4_PER_HOUR * m.TRIAL_S / 3600 * 1000
    print(f"remote TPE scan: {n} trials, {workers} lanes ({result['elapsed']:.1f} s in moto); "
          f"{len(result['events'])} history events; model: {m.LANES} trials at once, "
          f"30-min trials, a remote scan's default lease {lease:.0f} s\n")  # fmt: skip
    print(f"{'per trial':<44} {'count':>9} {'$ / 1,000 trials':>17}")
    print("-" * 72)
    for name, count, cost in rows:
        print(f"{name:<44} {count:>9.2f} {cost:>17.4f}")
    variable = sum(r[2] for r in rows)
    print("-" * 72)
    print(f"{'orchestration, heartbeats included':<44} {'':>9} {variable:>17.4f}")
    print(f"{'public IPv4 of the GPU instance (30 min)':<44} {'':>9} {ipv4:>17.4f}")
    print(f"\nfixed monthly: {facts['metrics']} custom metrics, {facts['alarms']} alarms, "
          f"{facts['dashboards']} dashboard = ${monthly:.2f}/month")  # fmt: skip
    print(f"\n{'trials in the month':<30} {'orchestration':>14} {'+ fixed':>10} {'+ IPv4':>10}"
          "   ($ per 1,000 trials)")  # fmt: skip
    for scale in m.SCALES:
        fixed = monthly / scale * 1000
        print(f"{scale:<30,} {variable:>14.4f} {variable + fixed:>10.4f} "
              f"{variable + fixed + ipv4:>10.4f}")  # fmt: skip
    gpu = m.GPU_TRIAL_COST * 1000
    print(f"\nGPU for 1,000 30-min trials (g5.xlarge Spot at $0.40/h, assumed): ${gpu:,.2f}; "
          f"orchestration / GPU = {100 * variable / gpu:.3f} %")  # fmt: skip
    units: Units = result["units"]
    print(
        "DynamoDB read units by action:", {k: round(v, 1) for k, v in sorted(units.reads.items())}
    )
    print(
        "DynamoDB write units by action:", {k: round(v, 1) for k, v in sorted(units.writes.items())}
    )
    print(
        "  of which index writes:", {k: round(v, 1) for k, v in sorted(units.index_writes.items())}
    )
    print("one heartbeat: read units {:.2f}, write units {:.2f}".format(*result["beat"]))
    print("API requests by route:", dict(sorted(result["cloud"].requests.api.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-reads", action="store_true", help="no reads-per-report part")
    parser.add_argument("--reads-trials", type=int, nargs="+", default=[100, 500, 2_000])
    parser.add_argument("--reads-steps", type=int, default=100)
    args = parser.parse_args()
    print_table(run(args.trials, args.workers), args.trials, args.workers)
    if not args.skip_reads:  # its own process: its memory is its own (RSS column)
        reads = [sys.executable, str(ROOT / "bench" / "report_reads.py"), "--steps",
                 str(args.reads_steps), "--trials", *map(str, args.reads_trials)]  # fmt: skip
        sys.stdout.flush()
        subprocess.run(reads, check=True)


if __name__ == "__main__":
    main()
