"""Oscar's loop against the real local server: suggest/update, resume by name from another
node, override, leases kept alive while a job runs, and clear errors."""

from __future__ import annotations

import json
import math
import threading
import time

import pytest
from scanfleet.client import Client, ConflictError, ScanFinishedError
from scanfleet.client.compat.oscar import ExperimentMismatchError, Job, Oscar
from scanfleet.config import ConfigError
from scanfleet.local.server import LocalServer
from scanfleet.records import ScanStatus, TrialState

from tests.functional.compat.conftest import OPENED
from tests.functional.conftest import api_client

SQUARE = {"name": "Square", "parameters": {"x": {"min": -10, "max": 10}}}


def a_client(api: LocalServer, worker: str = "node-1") -> Client:
    client = api_client(api, worker_id=worker)
    OPENED.append(client._oscar())
    return client


def scans_named(client: Client, name: str) -> list[str]:
    return [s.id for s in client.list_scans() if s.name == name]


def test_the_square_loop_of_oscars_guide_runs_and_records_every_result(
    local_api: LocalServer,
) -> None:
    client = a_client(local_api)
    for _ in range(9):
        job = client.suggest(SQUARE)
        assert set(job) == {"x"} and -10 <= job["x"] <= 10
        client.update(job, {"loss": math.pow(job["x"], 2), "train_time": 20})
    [scan_id] = scans_named(client, "Square")
    scan = client.get_scan(scan_id)
    assert scan.config.strategy.value == "optuna" and scan.metric == "loss"
    trials = scan.trials()
    assert len(trials) == 9 and all(t.state is TrialState.COMPLETED for t in trials)
    assert all(t.values == {"loss": t.params["x"] ** 2, "train_time": 20.0} for t in trials)
    best = scan.best_trial()
    assert best is not None and best.values["loss"] == min(t.values["loss"] for t in trials)


def test_another_node_resumes_the_experiment_by_name_and_gets_other_jobs(
    local_api: LocalServer,
) -> None:
    first, second = a_client(local_api, "node-1"), a_client(local_api, "node-2")
    job1 = first.suggest(SQUARE)
    job2 = second.suggest(SQUARE)  # job1 is still out: node 2 gets a new trial
    assert job1.id != job2.id and job1.trial.scan_id == job2.trial.scan_id
    assert len(scans_named(first, "Square")) == 1
    second.update(job2, {"loss": 1.0})
    first.update(job1, 2.0)  # a bare number is the loss
    counts = first.get_scan(job1.trial.scan_id).counts
    assert counts[TrialState.COMPLETED] == 2


def test_nodes_starting_at_once_share_one_scan(local_api: LocalServer) -> None:
    clients = [a_client(local_api, f"node-{i}") for i in range(8)]
    jobs: list[Job] = []
    barrier = threading.Barrier(len(clients))

    def node(client: Client) -> None:
        barrier.wait()
        jobs.append(client.suggest(SQUARE))

    threads = [threading.Thread(target=node, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(scans_named(clients[0], "Square")) == 1
    assert len({j.id for j in jobs}) == 8


def test_resume_false_overrides_the_experiment_once(local_api: LocalServer) -> None:
    client = a_client(local_api)
    old = client.suggest(SQUARE)
    client.update(old, {"loss": 3.0})
    fresh = a_client(local_api)._oscar()
    again = {**SQUARE, "resume": False}
    job = fresh.suggest(again)
    fresh.update(job, {"loss": 1.0})
    fresh.update(fresh.suggest(again), {"loss": 2.0})  # the same loop: not overridden again
    [scan_id] = scans_named(client, "Square")
    assert scan_id != old.trial.scan_id
    assert client.get_scan(scan_id).counts[TrialState.COMPLETED] == 2


def test_resuming_with_other_parameters_is_refused(local_api: LocalServer) -> None:
    a_client(local_api).suggest(SQUARE)
    other = {"name": "Square", "parameters": {"x": {"min": 0, "max": 1}}}
    with pytest.raises(ExperimentMismatchError, match="exists with other parameters"):
        a_client(local_api).suggest(other)


def test_a_long_job_keeps_its_lease(local_api: LocalServer) -> None:
    quick_lease = {**SQUARE, "execution": {"type": "manual", "lease_seconds": 0.6}}
    node1, node2 = a_client(local_api, "node-1"), a_client(local_api, "node-2")
    job = node1.suggest(quick_lease)
    time.sleep(1.5)  # more than two leases: only heartbeats keep the trial
    other = node2.suggest(quick_lease)
    assert other.id != job.id
    trial = node1.update(job, {"loss": 4.0})
    assert trial.state is TrialState.COMPLETED and trial.attempt == 1


def test_a_job_of_a_dead_node_goes_to_the_next_suggest(local_api: LocalServer) -> None:
    quick_lease = {**SQUARE, "execution": {"type": "manual", "lease_seconds": 0.3}}
    dead = Oscar(a_client(local_api, "dead"))
    lost = dead.suggest(quick_lease)
    dead.close()  # the node dies: no more heartbeats
    time.sleep(0.5)
    survivor = a_client(local_api, "alive")
    job = survivor.suggest(quick_lease)
    assert job.id == lost.id and job.trial.attempt == 2
    with pytest.raises(ConflictError):
        dead.update(lost, {"loss": 1.0})
    survivor.update(job, {"loss": 1.0})


def test_a_job_that_went_through_json_can_be_updated(local_api: LocalServer) -> None:
    client = a_client(local_api)
    job = client.suggest(SQUARE)
    plain = json.loads(json.dumps(job))
    assert client.update(plain, {"loss": 0.5}).state is TrialState.COMPLETED


def test_a_diverged_loss_fails_the_trial_and_bad_results_are_refused(
    local_api: LocalServer,
) -> None:
    client = a_client(local_api)
    job = client.suggest(SQUARE)
    with pytest.raises(ValueError, match="must have a 'loss' key"):
        client.update(job, {"accuracy": 0.5})
    with pytest.raises(ValueError, match=r"result\['note'\] must be a number"):
        client.update(job, {"loss": 1.0, "note": "hi"})
    trial = client.update(job, {"loss": float("nan")})
    assert trial.state is TrialState.FAILED and trial.record.failure_reason == "loss is nan"


def test_an_invalid_experiment_names_its_field(local_api: LocalServer) -> None:
    client = a_client(local_api)
    with pytest.raises(ConfigError) as missing:
        client.suggest({"parameters": {"x": {"min": 0, "max": 1}}, "resume": "yes"})
    assert {p.path for p in missing.value.problems} == {"name", "resume"}
    with pytest.raises(ConfigError) as typo:
        client.suggest({**SQUARE, "max_runs": 3})
    assert [p.path for p in typo.value.problems] == ["max_runs"]
    assert client.list_scans() == []


def test_the_experiment_ends_at_max_run(local_api: LocalServer) -> None:
    client = a_client(local_api)
    short = {**SQUARE, "max_run": 2, "description": "two tries"}
    for _ in range(2):
        client.update(client.suggest(short), {"loss": 1.0})
    with pytest.raises(ScanFinishedError):
        client.suggest(short)
    [scan] = client.list_scans()
    assert scan.status is ScanStatus.COMPLETED and scan.record.tags == {"description": "two tries"}
