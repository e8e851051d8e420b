"""The ports of the service: the scan lifecycle hears a scan start, run again and stop
(where the cloud starts and stops its executions), and PBT children get their checkpoint
through the artifact-copy port. The ports here are real implementations that record what
they are told, as a deployment's own would be written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from scanfleet.artifacts import CheckpointError, LocationError
from scanfleet.errors import RunNotStartedError
from scanfleet.records import ScanRecord, ScanStatus, TrialState
from scanfleet.service import ArtifactCopier, ScanLifecycle, ScanService
from scanfleet.store import ScanNotFoundError, SQLiteTrialStore, TrialStore

from tests.conftest import FakeClock

OWNER = "alice"


@dataclass
class Heard:
    event: str
    scan_id: str
    status: ScanStatus
    max_run: int
    reason: str | None = None
    stored: bool = True  # whether the store still held the scan when the port was told
    unfinished: int = 0  # its QUEUED and RUNNING trials in the store at that moment


@dataclass
class RecordingLifecycle:
    """A lifecycle that writes down what it hears, and what the store held then."""

    store: TrialStore | None = None
    heard: list[Heard] = field(default_factory=list)

    def on_started(self, scan: ScanRecord) -> None:
        self._note("started", scan)

    def on_reopened(self, scan: ScanRecord) -> None:
        self._note("reopened", scan)

    def on_stopped(self, scan: ScanRecord, *, reason: str) -> None:
        self._note("stopped", scan, reason)

    def events(self) -> list[tuple[str, str]]:
        return [(h.event, h.scan_id) for h in self.heard]

    def _note(self, event: str, scan: ScanRecord, reason: str | None = None) -> None:
        assert self.store is not None
        try:
            counts = self.store.counts(scan.scan_id)
            self.store.get_scan(scan.scan_id)
            stored = True
        except ScanNotFoundError:
            counts, stored = {}, False
        unfinished = counts.get(TrialState.QUEUED, 0) + counts.get(TrialState.RUNNING, 0)
        self.heard.append(
            Heard(event, scan.scan_id, scan.status, scan.max_run, reason, stored, unfinished)
        )


def grid(values: list[int], **extra: Any) -> dict[str, Any]:
    return {
        "strategy": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": values}},
        **extra,
    }


@pytest.fixture
def lifecycle() -> RecordingLifecycle:
    return RecordingLifecycle()


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock, lifecycle: RecordingLifecycle) -> ScanService:
    store = SQLiteTrialStore(tmp_path / "scanfleet.db")
    lifecycle.store = store
    return ScanService(store, now=clock, lifecycle=lifecycle)


def completed_scan(service: ScanService, lifecycle: RecordingLifecycle, **extra: Any) -> str:
    """A scan of one trial, run to the end; what the lifecycle heard so far is cleared."""
    scan, _ = service.create_scan("s", grid([1, 2, 3], max_run=1, **extra), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert trial is not None
    service.complete(trial.trial_id, 1.0, owner=OWNER)
    assert service.get_scan(scan.scan_id, owner=OWNER).status is ScanStatus.COMPLETED
    lifecycle.heard.clear()
    return scan.scan_id


def test_the_recording_lifecycle_is_a_scan_lifecycle(lifecycle: RecordingLifecycle) -> None:
    port: ScanLifecycle = lifecycle  # mypy checks the Protocol here
    assert port is lifecycle


def test_creating_a_scan_starts_it_once_and_a_retried_create_starts_nothing(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan, created = service.create_scan("s", grid([1, 2]), owner=OWNER, client_token="t1")
    again, created_again = service.create_scan("s", grid([1, 2]), owner=OWNER, client_token="t1")
    assert created and not created_again and again.scan_id == scan.scan_id
    assert lifecycle.events() == [("started", scan.scan_id)]
    assert lifecycle.heard[0].status is ScanStatus.RUNNING and lifecycle.heard[0].stored


def test_extending_a_completed_scan_reopens_it_and_extending_a_running_one_does_not(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan_id = completed_scan(service, lifecycle)
    service.extend(scan_id, 2, owner=OWNER)
    assert lifecycle.events() == [("reopened", scan_id)]
    heard = lifecycle.heard[0]
    assert (heard.status, heard.max_run) == (ScanStatus.RUNNING, 2)  # the scan as stored now
    service.extend(scan_id, 3, owner=OWNER)  # still running: nothing to re-open
    assert lifecycle.events() == [("reopened", scan_id)]


def test_a_trial_added_to_a_completed_scan_reopens_it_once(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan_id = completed_scan(service, lifecycle)
    _, created = service.add_trial(scan_id, {"x": 3}, owner=OWNER)
    assert created and lifecycle.events() == [("reopened", scan_id)]
    assert lifecycle.heard[0].status is ScanStatus.RUNNING
    service.add_trial(scan_id, {"x": 2}, owner=OWNER)  # running already
    assert lifecycle.events() == [("reopened", scan_id)]


def test_a_trial_that_already_exists_reopens_nothing(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan_id = completed_scan(service, lifecycle)
    (done,) = service.list_trials(scan_id, owner=OWNER)
    _, created = service.add_trial(scan_id, done.params, owner=OWNER)
    assert not created and lifecycle.events() == []
    assert service.get_scan(scan_id, owner=OWNER).status is ScanStatus.COMPLETED


def test_marking_a_completed_scan_running_reopens_it_and_marking_it_done_stops_nothing(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    marked = completed_scan(service, lifecycle)
    service.set_status(marked, ScanStatus.RUNNING, owner=OWNER)
    service.set_status(marked, ScanStatus.COMPLETED, owner=OWNER)  # done by hand: no stop
    assert lifecycle.events() == [("reopened", marked)]
    assert lifecycle.heard[0].status is ScanStatus.RUNNING


def test_gathering_seeds_reopens_the_scan(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan_id = completed_scan(service, lifecycle)
    service.gather_seeds(scan_id, 2, owner=OWNER)
    assert lifecycle.events() == [("reopened", scan_id)]


def test_cancelling_stops_the_scan_after_its_trials_are_failed_and_again_when_asked_again(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan, _ = service.create_scan("s", grid([1, 2, 3]), owner=OWNER)
    assert service.claim_next_trial(scan.scan_id, "w", owner=OWNER) is not None
    lifecycle.heard.clear()
    service.cancel(scan.scan_id, owner=OWNER)
    service.cancel(scan.scan_id, owner=OWNER)
    assert lifecycle.events() == [("stopped", scan.scan_id)] * 2
    first = lifecycle.heard[0]
    assert (first.status, first.reason, first.unfinished) == (
        ScanStatus.CANCELLED,
        "scan cancelled",
        0,
    )


def test_deleting_stops_the_scan_before_it_leaves_the_store(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan, _ = service.create_scan("s", grid([1, 2]), owner=OWNER)
    lifecycle.heard.clear()
    service.delete_scan(scan.scan_id, owner=OWNER)
    assert lifecycle.events() == [("stopped", scan.scan_id)]
    assert (lifecycle.heard[0].reason, lifecycle.heard[0].stored) == ("scan deleted", True)
    with pytest.raises(ScanNotFoundError):
        service.delete_scan(scan.scan_id, owner=OWNER)
    assert len(lifecycle.heard) == 1  # a scan that is gone is not stopped again


def test_another_owner_cannot_make_the_lifecycle_hear_anything(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    scan_id = completed_scan(service, lifecycle)
    for call in (
        lambda: service.extend(scan_id, 5, owner="mallory"),
        lambda: service.cancel(scan_id, owner="mallory"),
        lambda: service.delete_scan(scan_id, owner="mallory"),
    ):
        with pytest.raises(ScanNotFoundError):
            call()
    assert lifecycle.events() == []


def test_a_scan_that_ends_by_itself_is_not_stopped(
    service: ScanService, lifecycle: RecordingLifecycle
) -> None:
    completed_scan(service, lifecycle)  # COMPLETED by its last trial
    failing, _ = service.create_scan("f", grid([1, 2], completion={"max_failed": 1}), owner=OWNER)
    trial = service.claim_next_trial(failing.scan_id, "w", owner=OWNER)
    assert trial is not None
    service.fail(trial.trial_id, "boom", owner=OWNER, retry=False)
    assert service.get_scan(failing.scan_id, owner=OWNER).status is ScanStatus.FAILED
    assert lifecycle.events() == [("started", failing.scan_id)]


# ---- the artifact-copy port -----------------------------------------------------------

PBT = {
    "strategy": "pbt",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1.0}},
    "pbt": {"population_size": 2, "generation_steps": 5, "max_generations": 2, "seed": 3},
}


@dataclass
class RecordingCopier:
    """Copies by naming the child's place (``<uri>@<child>``), or refuses every copy."""

    refuse: bool = False
    copies: list[tuple[str, str, str]] = field(default_factory=list)

    def check(self, uri: str, scan_id: str, trial_id: str) -> str:
        if uri != f"mem://{trial_id}":
            raise LocationError(f"{uri!r} is not inside mem://{trial_id}")
        return uri

    def copy(self, uri: str, parent_trial_id: str, child_trial_id: str) -> str:
        self.copies.append((uri, parent_trial_id, child_trial_id))
        if self.refuse:
            raise CheckpointError(f"no checkpoint at {uri}")
        return f"{uri}@{child_trial_id}"


def pbt_child(tmp_path: Path, clock: FakeClock, copier: RecordingCopier) -> Any:
    port: ArtifactCopier = copier
    service = ScanService(SQLiteTrialStore(tmp_path / "pbt.db"), now=clock, artifacts=port)
    scan, _ = service.create_scan("pbt", PBT, owner=OWNER)
    for _ in range(2):
        trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
        assert trial is not None
        service.checkpoint(trial.trial_id, 5, f"mem://{trial.trial_id}", owner=OWNER)
        service.complete(trial.trial_id, trial.params["lr"], owner=OWNER)
    child = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert child is not None and child.lineage is not None
    return child


def test_a_pbt_child_gets_its_checkpoint_through_the_artifact_port(
    tmp_path: Path, clock: FakeClock
) -> None:
    copier = RecordingCopier()
    child = pbt_child(tmp_path, clock, copier)
    parent = child.lineage.parent_trial_id
    assert copier.copies == [(f"mem://{parent}", parent, child.trial_id)]
    assert child.checkpoint is not None
    assert (child.checkpoint.uri, child.checkpoint.step) == (
        f"mem://{parent}@{child.trial_id}",
        5,
    )


def test_a_pbt_child_whose_copy_is_refused_starts_from_scratch(
    tmp_path: Path, clock: FakeClock
) -> None:
    copier = RecordingCopier(refuse=True)
    child = pbt_child(tmp_path, clock, copier)
    assert len(copier.copies) == 1 and child.checkpoint is None


@dataclass
class RefusingLifecycle(RecordingLifecycle):
    """A lifecycle whose cloud refuses to start runs (the role lacks StartExecution) once
    ``refuse`` is set."""

    refuse: bool = True

    def on_started(self, scan: ScanRecord) -> None:
        super().on_started(scan)
        if self.refuse:
            raise RunNotStartedError("the scan's run could not start: AccessDeniedException")

    on_reopened = on_started


def test_a_scan_whose_run_aws_refused_to_start_is_failed_with_the_answer(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteTrialStore(tmp_path / "scanfleet.db")
    service = ScanService(store, now=clock, lifecycle=RefusingLifecycle(store))
    with pytest.raises(RunNotStartedError):
        service.create_scan("s", grid([1, 2]), owner=OWNER, client_token="t1")
    # the retried create (same token) finds the scan, FAILED with why: nothing is left
    # RUNNING with no run to run it
    scan, created = service.create_scan("s", grid([1, 2]), owner=OWNER, client_token="t1")
    assert not created and scan.status is ScanStatus.FAILED
    assert scan.status_reason == "the scan's run could not start: AccessDeniedException"


def test_a_reopened_scan_whose_run_aws_refused_is_failed_too(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SQLiteTrialStore(tmp_path / "scanfleet.db")
    lifecycle = RefusingLifecycle(store, refuse=False)
    service = ScanService(store, now=clock, lifecycle=lifecycle)
    scan_id = completed_scan(service, lifecycle)
    lifecycle.refuse = True
    with pytest.raises(RunNotStartedError):
        service.extend(scan_id, 2, owner=OWNER)
    assert service.get_scan(scan_id, owner=OWNER).status is ScanStatus.FAILED
