"""The Optuna journal export, read back with optuna's own JournalStorage: every trial of
the scan with its params, values, intermediate values and state."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState as OptunaState
from scanfleet.records import TrialState
from scanfleet.report import ScanResults, study_name, write_journal

from tests.unit.report.scans import OWNER, make_scan, service_at

STATES = {
    TrialState.COMPLETED: OptunaState.COMPLETE,
    TrialState.PRUNED: OptunaState.PRUNED,
    TrialState.FAILED: OptunaState.FAIL,
    TrialState.RUNNING: OptunaState.RUNNING,
    TrialState.QUEUED: OptunaState.WAITING,
}


def load(path: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(path))))


def test_the_journal_holds_every_trial_as_the_scan_has_it(tmp_path: Path) -> None:
    service = service_at(tmp_path)
    scan_id = make_scan(service, 25)
    results = ScanResults.from_service(service, scan_id, owner=OWNER)
    path = write_journal(results, tmp_path / "scan.log")

    study = load(path, study_name(results))
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.metric_names == ["loss"]
    assert study.user_attrs["scanfleet.scan_id"] == scan_id
    assert len(study.trials) == len(results.trials) == 25
    assert {t.state for t in results.trials} == set(STATES)  # every state is covered
    for got, want in zip(study.trials, results.trials, strict=True):
        assert got.number == want.number
        assert got.params == want.params
        assert got.state == STATES[want.state]
        assert got.intermediate_values == results.curves.get(want.trial_id, {})
        if want.state in (TrialState.COMPLETED, TrialState.PRUNED):
            assert got.value == want.values["loss"]
        else:
            assert got.value is None
        assert got.user_attrs["scanfleet.trial_id"] == want.trial_id
        assert got.user_attrs["scanfleet.preemptions"] == want.preemptions
        if want.state is TrialState.QUEUED:
            assert got.datetime_start is None
        else:
            assert want.started_at is not None and got.datetime_start is not None
            assert abs(got.datetime_start.timestamp() - want.started_at) < 1e-3
        if want.state.is_finished():
            assert want.finished_at is not None and got.datetime_complete is not None
            assert abs(got.datetime_complete.timestamp() - want.finished_at) < 1e-3


def test_exporting_again_replaces_the_journal_instead_of_appending(tmp_path: Path) -> None:
    service = service_at(tmp_path)
    scan_id = make_scan(service, 8)
    results = ScanResults.from_service(service, scan_id, owner=OWNER)
    path = write_journal(results, tmp_path / "scan.log")
    write_journal(results, path)
    assert len(load(path, study_name(results)).trials) == 8
    assert not path.with_name("scan.log.tmp").exists()
