"""A read-only Optuna storage over the scanfleet API, for ``optuna-dashboard`` on a live
scan (``scanfleet dashboard``): each scan is a study, each trial a ``FrozenTrial`` made by
the one converter the report and the journal export use (``ScanResults.study`` then
``journal_trial``), fetched again at most once per ``ttl`` seconds."""

from __future__ import annotations

import copy
import datetime
import threading
import time
import warnings
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import optuna
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy  # not exported (optuna-dashboard: the same)
from optuna.trial import FrozenTrial, TrialState

from scanfleet.report._data import ScanResults
from scanfleet.report._journal import journal_trial, study_name, study_user_attrs

if TYPE_CHECKING:
    from scanfleet.client import Client, Scan

DEFAULT_TTL_S = 2.0
TRIAL_IDS_PER_STUDY = 1_000_000_000  # trial id = study id × this + trial number


class ReadOnlyStorageError(NotImplementedError):
    """A write to the dashboard's storage: scans change through the scanfleet API."""

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"the scanfleet dashboard is read-only: {operation} is not possible here; scans"
            " and trials change through the scanfleet API (SDK or `scanfleet` CLI)"
        )
        self.operation = operation


@dataclass
class _Study:
    """One scan as a study: its id here, the scan, and what it looks like to Optuna."""

    study_id: int
    scan: Scan
    frozen: FrozenStudy


@dataclass
class _Trials:
    """A scan's trials as last fetched; the leading finished ones (``settled``) are never
    fetched again: finished trials do not change."""

    fetched_at: float
    trials: list[FrozenTrial]
    settled: int = 0  # trials[:settled] are finished, and so are all before them

    def refreshed(self, scan: Scan, study_id: int, now: Callable[[], float]) -> _Trials:
        """The trials after a new look at those after the settled ones."""
        kept = self.trials[: self.settled]
        trials = kept + frozen_trials(scan, study_id, after=self.settled - 1)
        settled = self.settled
        while settled < len(trials) and trials[settled].state.is_finished():
            settled += 1
        return _Trials(now(), trials, settled)


class ScanStorage(BaseStorage):
    """The scans of a scanfleet API (one, or all of the caller's) as Optuna studies.

    Read-only: every write raises ``ReadOnlyStorageError`` (a ``NotImplementedError``).
    Study ids are given in order of creation of the scans (0 is the oldest, or the one
    scan), as long as this storage lives; a trial's id is ``study_id × 10⁹ + number`` and
    its number is the scan's trial number, so both stay the same as the scan goes on.
    The list of scans and each scan's trials are fetched again once ``ttl`` seconds have
    passed since the last fetch (a dashboard polling every second costs one fetch per
    ``ttl``), and a fetch reads only the trials from the first unfinished one on (a long
    scan whose early trials are done costs little to show); trials returned earlier are
    never changed by a later fetch.

    Args:
        client: the scanfleet API (the local server or the cloud).
        scan_id: the one scan to show; None shows every scan of the caller.
        ttl: seconds a fetched answer is used before asking the API again.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        client: Client,
        scan_id: str | None = None,
        *,
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must be >= 0 seconds")
        self._client = client
        self._scan_id = scan_id
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}  # scan id → study id, for as long as this storage lives
        self._studies: dict[int, _Study] = {}
        self._studies_at: float | None = None
        self._trials: dict[int, _Trials] = {}

    # ---- studies -------------------------------------------------------------------------

    def get_all_studies(self) -> list[FrozenStudy]:
        return [study.frozen for study in self._listing().values()]

    def get_study_id_from_name(self, study_name: str) -> int:
        for study in self._listing().values():
            if study.frozen.study_name == study_name:
                return study.study_id
        raise KeyError(f"no scan is shown as a study named {study_name!r}")

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._study(study_id).frozen.study_name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._study(study_id).frozen.directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._study(study_id).frozen.user_attrs)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._study(study_id).frozen.system_attrs)

    # ---- trials --------------------------------------------------------------------------

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        trials = self._study_trials(study_id)
        chosen = list(trials) if states is None else [t for t in trials if t.state in states]
        return copy.deepcopy(chosen) if deepcopy else chosen

    def get_trial(self, trial_id: int) -> FrozenTrial:
        study_id, number = divmod(trial_id, TRIAL_IDS_PER_STUDY)
        return copy.deepcopy(self._numbered(study_id, number, f"no trial with id {trial_id}"))

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        missing = f"no trial number {trial_number} in study {study_id}"
        return self._numbered(study_id, trial_number, missing)._trial_id

    # ---- writes: refused -----------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> NoReturn:
        raise ReadOnlyStorageError("creating a study")

    def delete_study(self, study_id: int) -> NoReturn:
        raise ReadOnlyStorageError("deleting a study (`scanfleet scans delete` deletes a scan)")

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> NoReturn:
        raise ReadOnlyStorageError("setting a study attribute")

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> NoReturn:
        raise ReadOnlyStorageError("setting a study attribute (or a note)")

    def create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> NoReturn:
        raise ReadOnlyStorageError("creating a trial")

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> NoReturn:
        raise ReadOnlyStorageError("setting a trial parameter")

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> NoReturn:
        raise ReadOnlyStorageError("telling a trial's result")

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> NoReturn:
        raise ReadOnlyStorageError("reporting an intermediate value")

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> NoReturn:
        raise ReadOnlyStorageError("setting a trial attribute")

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> NoReturn:
        raise ReadOnlyStorageError("setting a trial attribute")

    # ---- fetching ------------------------------------------------------------------------

    def _fresh(self, fetched_at: float | None) -> bool:
        return fetched_at is not None and self._clock() - fetched_at < self._ttl

    def _listing(self) -> dict[int, _Study]:
        """The scans shown, by study id (fetched again after ``ttl``)."""
        with self._lock:
            if not self._fresh(self._studies_at):
                scans = self._fetch_scans()
                studies: dict[int, _Study] = {}
                for scan in reversed(scans):  # the API lists newest first
                    study_id = self._ids.setdefault(scan.id, len(self._ids))
                    known = self._studies.get(study_id)
                    if known is None or known.scan.record != scan.record:
                        known = _as_study(study_id, scan)
                    studies[study_id] = known
                self._studies = studies
                self._studies_at = self._clock()
            return dict(sorted(self._studies.items()))

    def _fetch_scans(self) -> list[Scan]:
        from scanfleet.client import NotFoundError

        if self._scan_id is None:
            return self._client.list_scans()
        try:
            return [self._client.get_scan(self._scan_id)]
        except NotFoundError:  # deleted while shown
            return []

    def _study(self, study_id: int) -> _Study:
        study = self._listing().get(study_id)
        if study is None:
            raise KeyError(f"no study with id {study_id} (no such scan, or it was deleted)")
        return study

    def _study_trials(self, study_id: int, *, again: bool = False) -> list[FrozenTrial]:
        study = self._study(study_id)
        with self._lock:
            held = self._trials.get(study_id)
            if again or held is None or not self._fresh(held.fetched_at):
                held = (held or _Trials(0.0, [])).refreshed(study.scan, study_id, self._clock)
                self._trials[study_id] = held
            return held.trials

    def _numbered(self, study_id: int, number: int, missing: str) -> FrozenTrial:
        """Trial ``number`` of the study; a number not seen yet asks the API again once
        (a trial created since the last fetch)."""
        trials = self._study_trials(study_id)
        if number >= 0 and number >= len(trials):
            trials = self._study_trials(study_id, again=True)
        if 0 <= number < len(trials) and trials[number].number == number:
            return trials[number]
        for trial in trials:  # numbers with a gap: no longer at their index
            if trial.number == number:
                return trial
        raise KeyError(missing)


def frozen_trials(scan: Scan, study_id: int = 0, *, after: int = -1) -> list[FrozenTrial]:
    """The scan's trials numbered above ``after``, in order, as Optuna trials (the report's
    converter: params with their distributions, values, intermediate values,
    PRUNED/FAIL/RUNNING, QUEUED as WAITING, tags and failure reasons as user attributes),
    with their numbers, ids of ``study_id`` and times in Optuna's way."""
    metric = scan.config.metric.name
    records = list(scan.iter_records(after=after))
    curves = scan.intermediate_values(metric, after=after)
    results = ScanResults(scan.record, records, curves, metric)
    study = results.study()
    trials = []
    for frozen, record in zip(study.get_trials(deepcopy=False), records, strict=True):
        trial = journal_trial(frozen, record)
        trial.number = record.number
        trial._trial_id = study_id * TRIAL_IDS_PER_STUDY + trial.number
        trial.datetime_start = _naive_local(trial.datetime_start)
        trial.datetime_complete = _naive_local(trial.datetime_complete)
        trials.append(trial)
    return trials


def _naive_local(moment: datetime.datetime | None) -> datetime.datetime | None:
    """Local time without a zone, as Optuna's own storages record it (``datetime.now()``):
    Optuna subtracts ``now()`` from a running trial's start (``plot_timeline``)."""
    return None if moment is None else moment.astimezone().replace(tzinfo=None)


def _as_study(study_id: int, scan: Scan) -> _Study:
    """The scan as a FrozenStudy: its directions and metric names from the study the
    report builds (with no trials: the listing fetches none), its bookkeeping as user
    attributes."""
    results = ScanResults(scan.record, [])
    source = results.study()
    storage = InMemoryStorage()  # Optuna's own bookkeeping of the metric names
    shown = optuna.create_study(
        storage=storage, study_name=study_name(results), directions=source.directions
    )
    if source.metric_names is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            shown.set_metric_names(list(source.metric_names))
    (made,) = storage.get_all_studies()
    frozen = FrozenStudy(
        study_name=made.study_name,
        direction=None,
        user_attrs=study_user_attrs(results),
        system_attrs=made.system_attrs,
        study_id=study_id,
        directions=made.directions,
    )
    return _Study(study_id, scan, frozen)
