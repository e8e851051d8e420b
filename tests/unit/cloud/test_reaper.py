"""The reaper re-queues expired leases in every scan of every owner, through the same
service rule as a claim, and leaves live leases alone, whichever store it is given."""

from __future__ import annotations

from typing import Any

from scanfleet.cloud import reap_stale_leases
from scanfleet.records import TrialState
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore, SQLiteTrialStore

from tests.conftest import FakeClock


def _grid(lease: int) -> dict[str, Any]:
    return {
        "strategy": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "execution": {"lease_seconds": lease},
        "parameters": {"x": {"values": [1, 2, 3]}},
    }


def test_expired_leases_of_every_owner_go_back_to_the_queue(
    dynamodb_store: DynamoDBTrialStore, clock: FakeClock
):
    service = ScanService(dynamodb_store, now=clock)
    alice, _ = service.create_scan("a", _grid(30), owner="alice")
    bob, _ = service.create_scan("b", _grid(30), owner="bob")
    dead_a = service.claim_next_trial(alice.scan_id, "w1", owner="alice")
    live_a = service.claim_next_trial(alice.scan_id, "w2", owner="alice")
    dead_b = service.claim_next_trial(bob.scan_id, "w3", owner="bob")
    assert dead_a and live_a and dead_b
    clock.advance(20)
    service.heartbeat(live_a.trial_id, owner="alice", worker_id="w2", attempt=1)
    clock.advance(15)  # 35 s: w1 and w3 went silent past their 30 s lease

    result = reap_stale_leases(service, dynamodb_store, now=clock())

    assert sorted(result.requeued) == sorted([dead_a.trial_id, dead_b.trial_id])
    assert result.scans_checked == 2
    for trial_id in result.requeued:
        trial = dynamodb_store.get_trial(trial_id)
        assert trial.state is TrialState.QUEUED and trial.preemptions == 1
    assert dynamodb_store.get_trial(live_a.trial_id).state is TrialState.RUNNING
    assert reap_stale_leases(service, dynamodb_store, now=clock()).requeued == []


def test_nothing_running_reads_nothing(dynamodb_store: DynamoDBTrialStore, clock: FakeClock):
    service = ScanService(dynamodb_store, now=clock)
    service.create_scan("idle", _grid(30), owner="alice")
    result = reap_stale_leases(service, dynamodb_store, now=clock() + 1000)
    assert (result.scans_checked, result.requeued) == (0, [])


def test_the_reaper_needs_only_the_store_contract(tmp_path: Any, clock: FakeClock):
    store = SQLiteTrialStore(tmp_path / "scanfleet.db")
    service = ScanService(store, now=clock)
    scan, _ = service.create_scan("a", _grid(30), owner="alice")
    dead = service.claim_next_trial(scan.scan_id, "w1", owner="alice")
    assert dead is not None
    clock.advance(31)
    assert reap_stale_leases(service, store, now=clock()).requeued == [dead.trial_id]
    assert store.get_trial(dead.trial_id).state is TrialState.QUEUED


def test_the_lambda_handler_reaps_and_emits_the_stale_trials_metric(
    dynamodb_store: DynamoDBTrialStore, monkeypatch: Any, capsys: Any
):
    import importlib
    import json
    import sys
    import time

    from scanfleet import names

    service = ScanService(dynamodb_store, now=lambda: time.time() - 100)  # claimed 100 s ago
    scan, _ = service.create_scan("a", _grid(30), owner="alice")
    assert service.claim_next_trial(scan.scan_id, "gone", owner="alice")
    monkeypatch.setenv(names.ENV_TABLE_NAME, dynamodb_store.table)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", names.METRICS_NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", names.METRICS_SERVICE)
    sys.modules.pop("lambdas.reaper", None)
    module: Any = importlib.import_module("lambdas.reaper")

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "reaper", 256, "r1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:reaper"

    assert module.handler({}, Context()) == {"scans_checked": 1, "requeued": 1}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    [metrics] = [m for m in emf if names.Metric.STALE_TRIALS.value in m]
    assert metrics[names.Metric.STALE_TRIALS.value] == [1.0]
    assert metrics[names.scans_metric("RUNNING")] == [1.0]
    assert metrics[names.scans_metric("CANCELLED")] == [0.0]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == names.METRICS_NAMESPACE
    assert metrics["service"] == names.METRICS_SERVICE
