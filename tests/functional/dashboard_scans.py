"""A live scan for the tests of ``scanfleet dashboard``, made through the real local server
with the SDK (trials in every state), and the same trials in Optuna's own in-memory
storage to compare ``ScanStorage`` with."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import InMemoryStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as Optuna
from scanfleet.client import Client, Scan
from scanfleet.report import ScanResults, write_journal

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
