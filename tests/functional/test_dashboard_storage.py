"""``ScanStorage``, the read-only Optuna storage of ``scanfleet dashboard``, through the real
local server: Optuna's own storage tests (``optuna/testing/pytest_storages.py``) applied to
the read paths optuna-dashboard calls, each compared with an in-memory Optuna study built
from the same scan (its journal export, read back by Optuna's own storages)."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import InMemoryStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as Optuna
from scanfleet.client import Client, Scan
from scanfleet.records import TrialState
from scanfleet.report import ReadOnlyStorageError, ScanResults, ScanStorage, write_journal

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"values": [0.1, 0.01, 0.001, 0.0001]},
        "width": {"values": [8, 16]},
        "act": {"values": ["relu", "tanh"]},
    },
}
STATES = [  # trial number → what the scan made of it
    Optuna.COMPLETE,
    Optuna.PRUNED,
    Optuna.COMPLETE,
    Optuna.FAIL,
    Optuna.COMPLETE,
    Optuna.RUNNING,
    Optuna.WAITING,  # interrupted (a Spot reclaim): back in the queue
]
ALL_STATES = tuple(Optuna)


class Clock:
    """The storage's monotonic clock, moved by the test (the TTL without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_live_scan(client: Client, name: str = "live") -> Scan:
    """Completed trials with curves (one tagged), a pruned one, a failed one with its
    reason, one running at step 1, and the last one interrupted: back in the queue (the
    next claim takes it first)."""
    scan = client.create_scan(name, GRID)
    for number in range(len(STATES)):
        trial = scan.next_trial(f"gpu-{number % 2}")
        assert trial is not None and trial.number == number
        state = STATES[number]
        if state is Optuna.FAIL:
            trial.fail("CUDA out of memory", retry=False)
            continue
        if state is Optuna.WAITING:
            trial.fail("spot reclaim", preempted=True)
            continue
        steps = 2 if state in (Optuna.PRUNED, Optuna.RUNNING) else 4
        for step in range(steps):
            trial.report("loss", 1.0 / (number + 1) + 1.0 / (step + 1), step=step)
        if state is Optuna.COMPLETE:
            if number == 2:
                trial.tag(team="vision")
            trial.complete(1.0 / (number + 1))
        elif state is Optuna.PRUNED:
            trial.prune()
    return scan


def expected_study(scan: Scan, folder: Path) -> optuna.Study:
    """The same trials in Optuna's own in-memory storage: the scan's journal export, read
    by JournalStorage and copied by ``optuna.copy_study``."""
    path = write_journal(ScanResults.from_scan(scan), folder / f"{scan.id}.log")
    journal = JournalStorage(JournalFileBackend(str(path)))
    (summary,) = optuna.get_all_study_summaries(journal)
    memory = InMemoryStorage()
    optuna.copy_study(from_study_name=summary.study_name, from_storage=journal, to_storage=memory)
    return optuna.load_study(study_name=summary.study_name, storage=memory)


def without_id(trial: FrozenTrial, *, utc: bool = False) -> dict[str, Any]:
    """A trial's fields but its id (each storage numbers trial ids its own way), its
    times as instants: Optuna's storages keep local times without a zone, and the journal
    export (``utc``) UTC times without a zone."""
    fields = dict(vars(trial))
    fields.pop("_trial_id")
    for key in ("_datetime_start", "datetime_complete"):
        moment = fields[key]
        if moment is not None:
            assert moment.tzinfo is None
            fields[key] = moment.replace(tzinfo=UTC) if utc else moment.astimezone()
    return fields


def expected_fields(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    return [without_id(t, utc=True) for t in trials]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def scan(client: Client) -> Scan:
    return make_live_scan(client)


@pytest.fixture
def storage(client: Client, scan: Scan, clock: Clock) -> ScanStorage:
    return ScanStorage(client, scan.id, ttl=2.0, clock=clock)


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
    assert best.value == min(t.value for t in storage.get_all_trials(0, states=[Optuna.COMPLETE]))
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
    assert storage.get_trial(5).datetime_start < datetime.now()
    frame = study.trials_dataframe()
    assert list(frame["state"]) == [s.name for s in STATES]
    assert math.isnan(frame["value_loss"][3])  # the failed trial has no value


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
