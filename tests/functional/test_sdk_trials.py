"""Trials through the SDK against the real local server: manual mode, reports and pruning,
leases and the attempt guard, and 32 threads claiming at once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from scanfleet.client import Client, ConflictError, NotFoundError, ScanFinishedError, Trial
from scanfleet.local.server import LocalServer
from scanfleet.records import ScanStatus, TrialState

GRID = {
    "strategy": "grid",
    "execution": {"type": "manual"},
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "batch_size": {"values": [2, 4, 8]},
        "learning_rate": {"values": [1e-3, 1e-4, 1e-5]},
    },
}


def test_a_manual_loop_finishes_a_3x3_grid_and_finds_the_best(client: Client) -> None:
    scan = client.create_scan("manual", GRID)
    seen = []
    while True:
        try:
            trial = scan.next_trial("me")
        except ScanFinishedError:
            break
        assert trial is not None  # one worker: a trial is always free until the end
        assert trial.state is TrialState.RUNNING and trial.attempt == 1
        seen.append(trial.params)
        trial.complete(trial.params["batch_size"] * trial.params["learning_rate"])
    assert len(seen) == 9 and len({tuple(sorted(p.items())) for p in seen}) == 9
    scan.refresh()
    assert scan.status is ScanStatus.COMPLETED and scan.counts[TrialState.COMPLETED] == 9
    best = scan.best_trial()
    assert best is not None
    assert best.params == {"batch_size": 2, "learning_rate": 1e-5}
    assert best.values == {"loss": pytest.approx(2e-5)}
    assert [t.number for t in scan.trials(TrialState.COMPLETED)] == list(range(9))


def test_several_metrics_can_be_completed_at_once(client: Client) -> None:
    scan = client.create_scan("multi", GRID)
    trial = scan.next_trial()
    assert trial is not None
    trial.complete({"loss": 0.3, "accuracy": 0.9})
    assert trial.refresh().values == {"loss": 0.3, "accuracy": 0.9}


def test_a_report_says_whether_to_prune_and_is_remembered(client: Client) -> None:
    config = {**GRID, "early_stopping": {"median": {"n_startup_trials": 1}}}
    scan = client.create_scan("pruned", config)
    first = scan.next_trial("w1")
    assert first is not None
    assert first.report("loss", 1.0, step=0) is False and not first.should_prune()
    first.complete(1.0)
    worse = scan.next_trial("w1")
    assert worse is not None
    assert worse.report("loss", 10.0, step=0) is True
    assert worse.should_prune() and worse.last_decision is not None
    assert worse.last_decision.reason
    worse.prune()
    assert worse.state is TrialState.PRUNED and worse.values == {"loss": 10.0}


def test_a_report_without_early_stopping_never_prunes(client: Client) -> None:
    trial = client.create_scan("plain", GRID).next_trial()
    assert trial is not None
    assert trial.report("loss", 5.0, step=3) is False
    assert trial.last_decision is not None and "no early stopping" in trial.last_decision.reason


def test_heartbeat_extends_the_lease_and_checkpoints_survive_a_requeue(
    client: Client, local_api: LocalServer
) -> None:
    scan = client.create_scan("resume", GRID)
    trial = scan.next_trial("w1", lease_seconds=30)
    assert trial is not None and trial.worker_id == "w1"
    before = trial.record.lease_expires_at or 0
    time.sleep(0.01)
    assert (trial.heartbeat().record.lease_expires_at or 0) > before
    saved = local_api.tokens.path.parent / "checkpoints" / scan.id / trial.id / "40.pt"
    trial.checkpoint(40, saved.as_uri())  # inside its folder of the state dir's checkpoints
    trial.fail("Spot reclaimed the machine", preempted=True)
    assert trial.state is TrialState.QUEUED and trial.record.preemptions == 1
    again = scan.next_trial("w2")
    assert again is not None and again.id == trial.id and again.attempt == 2
    assert again.checkpoint_record is not None and again.checkpoint_record.step == 40


def test_a_worker_that_lost_its_lease_cannot_finish_the_new_attempt(client: Client) -> None:
    scan = client.create_scan("lease", GRID)
    slow = scan.next_trial("slow", lease_seconds=0.05)
    assert slow is not None
    time.sleep(0.1)  # the lease runs out; the next claim re-queues and takes the trial
    fast = scan.next_trial("fast")
    assert fast is not None and fast.id == slow.id and fast.attempt == 2
    slow.refresh()  # the record moves on; the lease the slow worker holds does not
    assert slow.attempt == 1
    for late in (slow.heartbeat, lambda: slow.complete(0.1)):
        with pytest.raises(ConflictError) as caught:
            late()
        assert caught.value.error_code == "lease_lost"
    fast.complete(0.2)
    assert fast.values == {"loss": 0.2}


def test_a_trial_that_was_not_claimed_has_no_lease_to_extend(client: Client) -> None:
    scan = client.create_scan("listed", GRID)
    added = scan.add_trial({"batch_size": 4, "learning_rate": 1e-4})
    assert added.state is TrialState.QUEUED
    with pytest.raises(ValueError, match="not claimed"):
        added.heartbeat()


def test_adding_the_same_params_twice_gives_the_same_trial(client: Client) -> None:
    scan = client.create_scan("added", GRID)
    one = scan.add_trial({"batch_size": 8, "learning_rate": 1e-3}, tags={"by": "hand"})
    two = scan.add_trial({"batch_size": 8, "learning_rate": 1e-3})
    assert one.id == two.id and one.record.tags == {"by": "hand"}
    claimed = scan.next_trial()
    assert claimed is not None and claimed.id == one.id  # hand-added trials go first


def test_32_threads_claiming_at_once_never_get_the_same_trial(client: Client) -> None:
    config = {
        **GRID,
        "max_run": 500,
        "parameters": {"a": {"values": list(range(10))}, "b": {"values": list(range(20))}},
    }
    scan = client.create_scan("race", config)
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(32)

    def work(i: int) -> None:
        try:
            barrier.wait()
            while True:
                try:
                    trial = scan.next_trial(f"w{i}")
                except ScanFinishedError:
                    return
                if trial is None:
                    time.sleep(0.005)
                    continue
                with lock:
                    claimed.append(trial.id)
                trial.complete(float(trial.params["a"] + trial.params["b"]))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(claimed) == 200 and set(Counter(claimed).values()) == {1}
    trials = scan.trials()
    assert {t.id for t in trials} == set(claimed)
    assert all(t.state is TrialState.COMPLETED and t.attempt == 1 for t in trials)
    scan.refresh()
    assert scan.status is ScanStatus.COMPLETED and scan.counts[TrialState.COMPLETED] == 200
    best = scan.best_trial()
    assert best is not None and best.params == {"a": 0, "b": 0}


def test_a_trial_built_from_a_running_record_keeps_that_lease(client: Client) -> None:
    """The runtime builds the trial it runs from its environment, not from a claim."""
    scan = client.create_scan("runtime", GRID)
    claimed = scan.next_trial("agent-1")
    assert claimed is not None
    rebuilt = Trial(client, claimed.record)
    assert rebuilt.worker_id == "agent-1" and rebuilt.attempt == 1
    rebuilt.heartbeat()
    rebuilt.complete(0.7)
    assert rebuilt.state is TrialState.COMPLETED


def test_a_named_trial_is_claimed_once_and_its_lease_runs_out_for_the_next(
    client: Client,
) -> None:
    scan = client.create_scan("named", GRID)
    queued = scan.add_trial({"batch_size": 8, "learning_rate": 1e-3})
    mine = client.claim_trial(queued.id, "job-1", lease_seconds=0.05)
    assert mine.id == queued.id and mine.state is TrialState.RUNNING
    assert (mine.worker_id, mine.attempt, mine.record.worker_id) == ("job-1", 1, "job-1")
    with pytest.raises(ConflictError) as caught:
        client.claim_trial(queued.id, "job-2")
    assert caught.value.status == 409 and caught.value.error_code == "already_claimed"
    time.sleep(0.1)  # job-1's machine vanished: its lease runs out
    retried = client.claim_trial(queued.id, "job-2")
    assert (retried.worker_id, retried.attempt) == ("job-2", 2)
    retried.complete(0.3)
    with pytest.raises(ConflictError) as finished:
        client.claim_trial(queued.id, "job-3")
    assert finished.value.error_code == "trial_finished"


def test_claiming_an_unknown_trial_is_not_found(client: Client) -> None:
    scan = client.create_scan("unknown", GRID)
    with pytest.raises(NotFoundError) as caught:
        client.claim_trial(f"{scan.id}-0000000000000000", "job-1")
    assert caught.value.status == 404
