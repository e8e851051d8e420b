"""Schedy's vocabulary against the real local server: experiments found by name, jobs
added, handed out once each, updated, pushed; NoJobError; delete(ensure=...)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from scanfleet.client import BadRequestError, ConflictError
from scanfleet.client.compat.schedy import (
    Experiment,
    ExperimentExistsError,
    ExperimentNotFoundError,
    Job,
    JobNotFoundError,
    NoJobError,
    RandomSearch,
    SchedyDB,
)
from scanfleet.local.server import LocalServer
from scanfleet.records import ScanStatus

from tests.functional.compat.conftest import OPENED
from tests.functional.conftest import api_client


def a_db(api: LocalServer, worker: str = "w1") -> SchedyDB:
    client = api_client(api, worker_id=worker)
    db = SchedyDB(client)
    OPENED.append(db)
    return db


def test_a_manual_experiment_hands_out_added_jobs_then_raises_no_job(
    local_api: LocalServer,
) -> None:
    db = a_db(local_api)
    db.add_experiment(Experiment("Manual"))
    exp = db.get_experiment("Manual")  # as another worker would
    added = [exp.add_job(hyperparameters={"alpha": a, "beta": "x"}) for a in (0.1, 0.2)]
    assert [j.status for j in added] == [Job.QUEUED, Job.QUEUED]
    for expected in added:
        with exp.next_job() as job:
            assert job.status == Job.RUNNING and job.id == expected.id
            assert job.hyperparameters == {"alpha": expected.hyperparameters["alpha"], "beta": "x"}
            job.results["loss"] = job.hyperparameters["alpha"] * 10
    with pytest.raises(NoJobError):
        exp.next_job()
    jobs = list(exp.all_jobs())
    assert [(j.status, j.results) for j in jobs] == [
        (Job.DONE, {"loss": 1.0}),
        (Job.DONE, {"loss": 2.0}),
    ]
    assert exp.status == Experiment.RUNNING  # a manual experiment waits for more jobs
    exp.add_job(hyperparameters={"alpha": 0.3, "beta": "y"})
    assert exp.next_job().hyperparameters["alpha"] == 0.3


def test_racing_workers_never_get_the_same_job(local_api: LocalServer) -> None:
    a_db(local_api).add_experiment(Experiment("Race"))
    exp = a_db(local_api).get_experiment("Race")
    for i in range(24):
        exp.add_job(hyperparameters={"i": i})
    taken: list[str] = []
    barrier = threading.Barrier(6)

    def worker(n: int) -> None:
        mine = a_db(local_api, f"w{n}").get_experiment("Race")
        barrier.wait()
        while True:
            try:
                job = mine.next_job()
            except NoJobError:
                return
            taken.append(job.id)
            with job:
                job.results["loss"] = 1.0

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 24 and max(Counter(taken).values()) == 1
    assert all(j.status == Job.DONE for j in exp.all_jobs())


def test_an_exception_in_the_block_crashes_the_job(local_api: LocalServer) -> None:
    db = a_db(local_api)
    exp = db.add_experiment(Experiment("Crash"))
    exp.add_job(hyperparameters={"x": 1})
    with pytest.raises(RuntimeError), exp.next_job() as job:
        raise RuntimeError("out of memory")
    assert exp.get_job(job.id).status == Job.CRASHED
    with pytest.raises(NoJobError):
        exp.next_job()  # crashed for good, not retried


def test_push_updates_sends_intermediate_results_status_and_pruning(
    local_api: LocalServer,
) -> None:
    db = a_db(local_api)
    exp = db.add_experiment(Experiment("Push", result_name="acc", objective="maximize"))
    for x in (1, 2, 3):
        exp.add_job(hyperparameters={"x": x})
    job = exp.next_job()
    for step_value in (0.5, 0.7):
        job.results["acc"] = step_value
        job.push_updates()
    assert job.trial.record.last_step == 1
    job.status = Job.PRUNED
    job.push_updates()
    assert exp.get_job(job.id).status == Job.PRUNED
    assert job.trial.values == {"acc": 0.7}

    back = exp.next_job()
    back.status = Job.QUEUED  # give it back: another worker takes it
    back.push_updates()
    again = exp.next_job()
    assert again.id == back.id and again.trial.attempt == 2
    again.status = Job.DONE
    with pytest.raises(BadRequestError, match="'acc'"):
        again.push_updates()  # DONE needs the experiment's result
    again.results["acc"] = 0.9
    again.push_updates()
    again.hyperparameters["x"] = 99
    with pytest.raises(ValueError, match="cannot change"):
        again.push_updates()
    assert exp._bound_scan().best_trial().id == again.id  # type: ignore[union-attr]


def test_jobs_added_with_a_final_status_record_runs_made_elsewhere(
    local_api: LocalServer,
) -> None:
    exp = a_db(local_api).add_experiment(Experiment("Import"))
    done = exp.add_job(hyperparameters={"x": 1}, status=Job.DONE, results={"loss": 0.1})
    crashed = exp.add_job(hyperparameters={"x": 2}, status=Job.CRASHED)
    assert (done.status, done.results) == (Job.DONE, {"loss": 0.1})
    assert crashed.status == Job.CRASHED
    with pytest.raises(NoJobError):
        exp.next_job()
    with pytest.raises(JobNotFoundError):
        exp.get_job(done.id + "0")


def test_a_random_search_samples_when_no_job_is_queued(local_api: LocalServer) -> None:
    db = a_db(local_api)
    space = {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1}}
    db.add_experiment(RandomSearch("Random", space, config={"max_run": 3}))
    exp = db.get_experiment("Random")
    assert isinstance(exp, RandomSearch)
    exp.add_job(hyperparameters={"lr": 0.01})
    assert exp.next_job().hyperparameters == {"lr": 0.01}
    sampled = exp.next_job()
    assert 1e-5 <= sampled.hyperparameters["lr"] <= 1e-1
    with pytest.raises(BadRequestError):
        exp.add_job(hyperparameters={"lr": 5.0})  # outside the space


def test_an_experiment_marked_done_hands_out_nothing_until_running_again(
    local_api: LocalServer,
) -> None:
    db = a_db(local_api)
    exp = db.add_experiment(Experiment("Pause"))
    exp.add_job(hyperparameters={"x": 1})
    exp.status = Experiment.DONE
    exp.push_updates()
    assert db.get_experiment("Pause").status == Experiment.DONE
    with pytest.raises(NoJobError):
        exp.next_job()
    exp.status = Experiment.RUNNING
    exp.push_updates()
    assert exp.next_job().hyperparameters == {"x": 1}
    created_done = db.add_experiment(Experiment("Born done", status=Experiment.DONE))
    assert created_done._bound_scan().refresh().status is ScanStatus.COMPLETED


def test_delete_with_ensure_raises_the_second_time(local_api: LocalServer) -> None:
    db = a_db(local_api)
    exp = db.add_experiment(Experiment("Gone"))
    job = exp.add_job(hyperparameters={"x": 1})
    with pytest.raises(ExperimentExistsError):
        db.add_experiment(Experiment("Gone"))
    exp.delete()
    with pytest.raises(ExperimentNotFoundError):
        db.get_experiment("Gone")
    with pytest.raises(ExperimentNotFoundError):
        exp.delete(ensure=True)
    exp.delete(ensure=False)
    assert [e.name for e in db.get_experiments()] == []
    again = db.add_experiment(Experiment("Gone"))  # the name is free again
    assert list(again.all_jobs()) == [] and again._bound_scan().id != job.trial.scan_id


def test_a_finished_job_refuses_a_late_update_from_a_stale_copy(local_api: LocalServer) -> None:
    exp = a_db(local_api).add_experiment(Experiment("Final"))
    exp.add_job(hyperparameters={"x": 1})
    with exp.next_job() as job:
        stale = exp.get_job(job.id)  # another process's view, while it runs
        job.results["loss"] = 1.0
    stale.status = Job.CRASHED
    with pytest.raises(ConflictError):
        stale.push_updates()
    assert exp.get_job(job.id).status == Job.DONE
