"""``ScanStorage`` on a scan that goes on, through the real local server: answers reused for
the TTL, then only the unfinished trials read again, earlier answers never changed, ids
that stay; every scan of the caller as a study; what Optuna (and so optuna-dashboard's
plots) makes of it."""

from __future__ import annotations

import copy
import math
from datetime import datetime

import optuna
import pytest
from optuna.trial import TrialState as Optuna
from scanfleet.client import Client, Scan
from scanfleet.records import TrialState
from scanfleet.report import ScanStorage

from tests.functional.dashboard_scans import GRID, STATES, Clock, make_live_scan


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def scan(client: Client) -> Scan:
    return make_live_scan(client)


@pytest.fixture
def storage(client: Client, scan: Scan, clock: Clock) -> ScanStorage:
    return ScanStorage(client, scan.id, ttl=2.0, clock=clock)


# ---- a live scan: cached for the TTL, then the new answer; ids stay -----------------------


def test_trials_are_fetched_again_after_the_ttl_and_earlier_answers_stay_as_they_were(
    storage: ScanStorage, scan: Scan, clock: Clock
) -> None:
    trials = storage.get_all_trials(0, deepcopy=False)
    before = copy.deepcopy(trials)
    running = next(t for t in scan.trials() if t.state is TrialState.RUNNING)
    running.report("loss", 0.2, step=2)
    running.complete(0.1)
    requeued = scan.next_trial("gpu-2")
    assert requeued is not None and requeued.number == 6
    newcomer = scan.next_trial("gpu-3")
    assert newcomer is not None and newcomer.number == 7

    clock.now += 1.9  # within the TTL: the answer fetched before
    assert storage.get_all_trials(0, deepcopy=False) == before
    clock.now += 0.2
    after = storage.get_all_trials(0, deepcopy=False)
    assert trials == before  # what was returned is never changed by a later fetch
    assert [t._trial_id for t in after[: len(before)]] == [t._trial_id for t in before]
    assert after[5].state is Optuna.COMPLETE and after[5].value == 0.1
    assert after[5].intermediate_values[2] == 0.2
    assert after[6].state is Optuna.RUNNING and after[6].datetime_start is not None
    assert after[7].number == 7 and after[7].state is Optuna.RUNNING
    assert storage.get_best_trial(0).number == 5


def test_a_look_again_reads_only_the_trials_from_the_first_unfinished_one_on(
    storage: ScanStorage, scan: Scan, clock: Clock
) -> None:
    trials = storage.get_all_trials(0, deepcopy=False)
    clock.now += 2.0
    again = storage.get_all_trials(0, deepcopy=False)
    assert all(again[n] is trials[n] for n in range(5))  # finished: kept, not read again
    assert all(again[n] is not trials[n] for n in (5, 6))  # running, queued: read again
    records = {r.trial_id: r.number for r in scan.iter_records()}
    tail = scan.intermediate_values(after=4)  # what a look asks for
    assert sorted(records[t] for t in tail) == [5]  # the queued trial 6 reported nothing


def test_a_trial_number_not_seen_yet_is_fetched_at_once(storage: ScanStorage, scan: Scan) -> None:
    storage.get_all_trials(0)
    assert scan.next_trial("gpu-2") is not None  # the re-queued trial 6
    newcomer = scan.next_trial("gpu-3")
    assert newcomer is not None and newcomer.number == 7
    trial_id = storage.get_trial_id_from_study_id_trial_number(0, 7)
    assert storage.get_trial(trial_id).params == newcomer.params


def test_the_status_of_the_scan_follows(storage: ScanStorage, scan: Scan, clock: Clock) -> None:
    assert storage.get_study_user_attrs(0)["scanfleet.status"] == "RUNNING"
    scan.set_status("COMPLETED")
    clock.now += 2.0
    assert storage.get_study_user_attrs(0)["scanfleet.status"] == "COMPLETED"


def test_a_deleted_scan_is_no_study_any_more(
    storage: ScanStorage, scan: Scan, clock: Clock
) -> None:
    assert len(storage.get_all_studies()) == 1
    scan.delete()
    clock.now += 2.0
    assert storage.get_all_studies() == []
    with pytest.raises(KeyError):
        storage.get_all_trials(0)


def test_every_scan_of_the_caller_is_a_study_with_ids_that_stay(
    client: Client, scan: Scan, clock: Clock
) -> None:
    second = make_live_scan(client, "second")
    storage = ScanStorage(client, ttl=2.0, clock=clock)
    studies = storage.get_all_studies()
    assert [(s._study_id, s.user_attrs["scanfleet.scan_id"]) for s in studies] == [
        (0, scan.id),  # the oldest first
        (1, second.id),
    ]
    ids = {t._trial_id for study in (0, 1) for t in storage.get_all_trials(study)}
    assert len(ids) == 2 * len(STATES)  # trial ids are unique across studies
    third = client.create_scan("third", GRID)
    clock.now += 2.0
    assert [s._study_id for s in storage.get_all_studies()] == [0, 1, 2]
    assert storage.get_study_name_from_id(2) == f"third ({third.id})"
    assert storage.get_study_name_from_id(0) == f"live ({scan.id})"


# ---- what optuna-dashboard does with it ----------------------------------------------------


def test_optuna_loads_the_study_and_plots_it(storage: ScanStorage) -> None:
    study = optuna.load_study(study_name=storage.get_study_name_from_id(0), storage=storage)
    assert study.best_value == pytest.approx(1 / 5)
    assert len(study.trials) == len(STATES)
    figure = optuna.visualization.plot_optimization_history(study)
    assert len(figure.data[0].x) == STATES.count(Optuna.COMPLETE)
    timeline = optuna.visualization.plot_timeline(study)  # now() - a running trial's start
    assert sum(len(bar.x) for bar in timeline.data) == len(STATES)
    started = storage.get_trial(5).datetime_start
    assert started is not None and started < datetime.now()
    frame = study.trials_dataframe()
    assert list(frame["state"]) == [s.name for s in STATES]
    assert math.isnan(frame["value_loss"][3])  # the failed trial has no value
