"""The Optuna journal export: a file that ``optuna-dashboard scan.log`` opens, holding
every trial with its params, values, intermediate values and state (QUEUED trials as
WAITING), and scanfleet's own bookkeeping as user attributes."""

from __future__ import annotations

import datetime
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanfleet.records import TrialRecord, TrialState
from scanfleet.report._data import ScanResults

if TYPE_CHECKING:
    import optuna


def write_journal(results: ScanResults, path: str | Path) -> Path:
    """Write ``results`` as an Optuna journal at ``path``, replacing the file if it exists.

    The study is built over an in-memory journal and its log is then appended to the
    file by Optuna's ``JournalFileBackend`` in one write: written trial by trial, the file
    backend syncs to disk once per trial (18 s for 5,000 trials instead of 1 s)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = results.study()
    log = _log_in_memory()
    study = optuna.create_study(
        storage=JournalStorage(log),
        study_name=study_name(results),
        directions=source.directions,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if source.metric_names is not None:
            study.set_metric_names(list(source.metric_names))
    for key, value in study_user_attrs(results).items():
        study.set_user_attr(key, value)
    for frozen, record in zip(source.trials, results.trials, strict=True):
        study.add_trial(journal_trial(frozen, record))
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    JournalFileBackend(str(tmp)).append_logs(log.logs)
    tmp.replace(path)
    return path


def _log_in_memory() -> Any:
    from optuna.storages.journal import BaseJournalBackend

    class LogInMemory(BaseJournalBackend):
        def __init__(self) -> None:
            self.logs: list[dict[str, Any]] = []

        def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
            return self.logs[log_number_from:]

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            self.logs.extend(json.loads(json.dumps(logs)))  # as the file would give them back

    return LogInMemory()


def study_name(results: ScanResults) -> str:
    return f"{results.scan.name} ({results.scan.scan_id})"


def study_user_attrs(results: ScanResults) -> dict[str, Any]:
    """The scan's bookkeeping, as the study's user attributes."""
    scan = results.scan
    return {
        "scanfleet.scan_id": scan.scan_id,
        "scanfleet.status": scan.status.value,
        "scanfleet.config": scan.config,
    }


def journal_trial(
    frozen: optuna.trial.FrozenTrial, record: TrialRecord
) -> optuna.trial.FrozenTrial:
    """The rebuilt trial with the record's timestamps, QUEUED as WAITING (the rebuild
    treats it as RUNNING for the sampler's sake), PRUNED as PRUNED, and the record's
    bookkeeping."""
    from optuna.trial import TrialState as OptunaState

    if record.state is TrialState.PRUNED:
        frozen.state = OptunaState.PRUNED  # the rebuild fails pruned multi-objective trials
    if record.state is TrialState.QUEUED:
        frozen.state = OptunaState.WAITING
        frozen.datetime_start = None
    else:
        started = record.started_at or record.finished_at or record.created_at
        frozen.datetime_start = _utc(started)
        if frozen.state.is_finished():
            frozen.datetime_complete = _utc(max(record.finished_at or started, started))
    frozen.user_attrs = _bookkeeping(record)
    return frozen


def _bookkeeping(record: TrialRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "scanfleet.trial_id": record.trial_id,
        "scanfleet.number": record.number,
        "scanfleet.state": record.state.value,
        "scanfleet.attempt": record.attempt,
        "scanfleet.preemptions": record.preemptions,
        "scanfleet.errors": record.errors,
        "scanfleet.duration_s": record.duration_s,
        "scanfleet.worker_id": record.worker_id,
        "scanfleet.values": record.values,
    }
    if record.failure_reason:
        attrs["scanfleet.failure_reason"] = record.failure_reason
    if record.prune_decision is not None:
        attrs["scanfleet.prune_reason"] = record.prune_decision.reason
    if record.tags:
        attrs["scanfleet.tags"] = record.tags
    return attrs


def _utc(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
