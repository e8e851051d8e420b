"""``ScanStorage``, the read-only Optuna storage of ``scanfleet dashboard``, through the real
local server: Optuna's own storage tests (``optuna/testing/pytest_storages.py``) applied to
the read paths optuna-dashboard calls, each compared with an in-memory Optuna study built
from the same scan (its journal export, read back by Optuna's own storages)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState as Optuna
from scanfleet.client import Client, Scan
from scanfleet.report import ReadOnlyStorageError, ScanStorage

from tests.functional.dashboard_scans import (
    ALL_STATES,
    GRID,
    STATES,
    expected_fields,
    expected_study,
    make_live_scan,
    without_id,
)


@pytest.fixture
def scan(client: Client) -> Scan:
    return make_live_scan(client)


@pytest.fixture
def storage(client: Client, scan: Scan) -> ScanStorage:
    return ScanStorage(client, scan.id)


@pytest.fixture
def expected(scan: Scan, tmp_path: Path) -> optuna.Study:
    return expected_study(scan, tmp_path)


# ---- studies ------------------------------------------------------------------------------


def test_get_all_studies(storage: ScanStorage, expected: optuna.Study, scan: Scan) -> None:
    (frozen,) = storage.get_all_studies()
    (want,) = expected._storage.get_all_studies()
    assert frozen._study_id == 0
    assert frozen.study_name == want.study_name == f"live ({scan.id})"
    assert frozen.directions == want.directions == [StudyDirection.MINIMIZE]
    assert frozen.user_attrs == want.user_attrs
    assert frozen.user_attrs["scanfleet.scan_id"] == scan.id
    assert frozen.system_attrs == want.system_attrs  # the metric name
    assert optuna.load_study(study_name=frozen.study_name, storage=storage).metric_names == ["loss"]


def test_get_study_id_from_name_and_get_study_name_from_id(
    storage: ScanStorage, scan: Scan
) -> None:
    name = f"live ({scan.id})"
    assert storage.get_study_id_from_name(name) == 0
    assert storage.get_study_name_from_id(0) == name
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("live")
    with pytest.raises(KeyError):
        storage.get_study_name_from_id(1)
    for read in (
        storage.get_study_directions,
        storage.get_study_user_attrs,
        storage.get_study_system_attrs,
    ):
        with pytest.raises(KeyError):
            read(1)


def test_study_attrs_are_copies(storage: ScanStorage) -> None:
    storage.get_study_user_attrs(0)["scanfleet.status"] = "changed"
    assert storage.get_study_user_attrs(0)["scanfleet.status"] == "RUNNING"


# ---- trials -------------------------------------------------------------------------------


def test_get_all_trials(storage: ScanStorage, expected: optuna.Study, scan: Scan) -> None:
    trials = storage.get_all_trials(0)
    assert [without_id(t) for t in trials] == expected_fields(expected.get_trials(deepcopy=False))
    records = list(scan.iter_records())
    assert [t.number for t in trials] == [r.number for r in records] == list(range(7))
    assert [t.state for t in trials] == STATES
    with pytest.raises(KeyError):
        storage.get_all_trials(1)


def test_every_kind_of_trial_reads_as_optuna_shows_it(storage: ScanStorage) -> None:
    trials = storage.get_all_trials(0)
    done, pruned, tagged, failed = trials[0], trials[1], trials[2], trials[3]
    running, waiting = trials[5], trials[6]
    assert done.value == 1.0 and done.intermediate_values == {
        0: 2.0,
        1: 1.5,
        2: 1.0 + 1 / 3,
        3: 1.25,
    }
    assert set(done.distributions) == {"lr", "width", "act"}
    assert done.distributions["act"] == optuna.distributions.CategoricalDistribution(
        ["relu", "tanh"]
    )
    assert pruned.state is Optuna.PRUNED and pruned.value == pytest.approx(1.0)  # last step's
    assert pruned.user_attrs["scanfleet.failure_reason"] == "pruned by the script"
    assert tagged.user_attrs["scanfleet.tags"] == {"team": "vision"}
    assert failed.values is None
    assert failed.user_attrs["scanfleet.failure_reason"] == "CUDA out of memory"
    assert waiting.datetime_start is None and waiting.user_attrs["scanfleet.preemptions"] == 1
    assert running.values is None and running.intermediate_values == {0: 1 / 6 + 1, 1: 1 / 6 + 0.5}
    assert all(t.datetime_complete is not None for t in trials if t.state.is_finished())


def test_get_trial(storage: ScanStorage, expected: optuna.Study) -> None:
    for want in expected.get_trials(deepcopy=False):
        trial_id = storage.get_trial_id_from_study_id_trial_number(0, want.number)
        trial = storage.get_trial(trial_id)
        assert trial._trial_id == trial_id
        assert without_id(trial) == without_id(want, utc=True)
        assert storage.get_trial_number_from_id(trial_id) == want.number
        assert storage.get_trial_params(trial_id) == want.params
        assert storage.get_trial_user_attrs(trial_id) == want.user_attrs
        assert storage.get_trial_system_attrs(trial_id) == want.system_attrs
    with pytest.raises(KeyError):
        storage.get_trial(max(t._trial_id for t in storage.get_all_trials(0)) + 1)
    with pytest.raises(KeyError):
        storage.get_trial(10**9)  # trial 0 of study 1, which does not exist


def test_get_trial_id_from_study_id_trial_number(storage: ScanStorage) -> None:
    with pytest.raises(KeyError):  # no such study
        storage.get_trial_id_from_study_id_trial_number(study_id=1, trial_number=0)
    with pytest.raises(KeyError):  # no such trial
        storage.get_trial_id_from_study_id_trial_number(0, trial_number=len(STATES))
    ids = [storage.get_trial_id_from_study_id_trial_number(0, n) for n in range(len(STATES))]
    assert ids == [t._trial_id for t in storage.get_all_trials(0)]
    assert len(set(ids)) == len(ids)


def test_get_all_trials_deepcopy_option(storage: ScanStorage) -> None:
    trials0 = storage.get_all_trials(0, deepcopy=True)
    original = copy.deepcopy(trials0)
    trials0[0].params["lr"] = 0.5
    trials0[0].user_attrs["x"] = 1
    assert storage.get_all_trials(0, deepcopy=False) == original


@pytest.mark.parametrize(
    "states",
    [
        None,
        (),
        (Optuna.COMPLETE,),
        (Optuna.COMPLETE, Optuna.PRUNED),
        (Optuna.FAIL, Optuna.RUNNING, Optuna.WAITING),
        *[(state,) for state in ALL_STATES],
    ],
)
def test_get_all_trials_state_option(
    storage: ScanStorage, expected: optuna.Study, states: tuple[Optuna, ...] | None
) -> None:
    got = storage.get_all_trials(0, states=states)
    want = expected.get_trials(deepcopy=False, states=states)
    assert [without_id(t) for t in got] == expected_fields(want)
    assert all(states is None or t.state in states for t in got)


def test_get_n_trials_state_option(storage: ScanStorage) -> None:
    assert storage.get_n_trials(0) == len(STATES)
    for state in ALL_STATES:
        assert storage.get_n_trials(0, state) == STATES.count(state)
    with pytest.raises(KeyError):
        storage.get_n_trials(1)


def test_get_best_trial(storage: ScanStorage, expected: optuna.Study, client: Client) -> None:
    best = storage.get_best_trial(0)
    assert without_id(best) == without_id(expected.best_trial, utc=True)
    completed = storage.get_all_trials(0, states=[Optuna.COMPLETE])
    assert best.value == min(t.values[0] for t in completed)
    with pytest.raises(KeyError):
        storage.get_best_trial(1)
    empty = client.create_scan("nothing done", GRID)
    assert empty.next_trial("gpu-0") is not None
    fresh = ScanStorage(client, empty.id)
    with pytest.raises(ValueError):  # no trial completed yet
        fresh.get_best_trial(0)


def test_get_best_trial_of_a_two_metric_scan_raises_as_optuna_does(client: Client) -> None:
    two = {
        **GRID,
        "metrics": [{"name": "loss", "goal": "minimize"}, {"name": "ms", "goal": "minimize"}],
    }
    scan = client.create_scan("pareto", two)
    for loss, ms in ((0.5, 3.0), (0.4, 4.0)):
        trial = scan.next_trial("gpu-0")
        assert trial is not None
        trial.complete({"loss": loss, "ms": ms})
    storage = ScanStorage(client, scan.id)
    assert storage.get_study_directions(0) == [StudyDirection.MINIMIZE] * 2
    assert [t.values for t in storage.get_all_trials(0)] == [[0.5, 3.0], [0.4, 4.0]]
    with pytest.raises(RuntimeError):
        storage.get_best_trial(0)


@pytest.mark.parametrize(
    ("write", "args"),
    [
        ("create_new_study", ([StudyDirection.MINIMIZE],)),
        ("delete_study", (0,)),
        ("set_study_user_attr", (0, "k", 1)),
        ("set_study_system_attr", (0, "k", 1)),
        ("create_new_trial", (0,)),
        ("set_trial_param", (0, "lr", 0.1, optuna.distributions.FloatDistribution(0, 1))),
        ("set_trial_state_values", (0, Optuna.COMPLETE, [1.0])),
        ("set_trial_intermediate_value", (0, 1, 1.0)),
        ("set_trial_user_attr", (0, "k", 1)),
        ("set_trial_system_attr", (0, "k", 1)),
    ],
)
def test_every_write_is_refused_saying_the_storage_is_read_only(
    storage: ScanStorage, write: str, args: tuple[Any, ...]
) -> None:
    with pytest.raises(ReadOnlyStorageError, match="the scanfleet dashboard is read-only") as error:
        getattr(storage, write)(*args)
    assert isinstance(error.value, NotImplementedError)
    assert "scanfleet API" in str(error.value)
