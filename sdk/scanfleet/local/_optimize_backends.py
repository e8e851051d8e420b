"""Where ``scanfleet.optimize`` keeps its scan: the embedded local service (SQLite in the
state folder, called in this process: no server, no HTTP) or a remote API (``url``).

Both offer the same few calls (``ScanBackend``), so the loop of ``optimize`` is one.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanfleet.config import ScanConfig
from scanfleet.records import TrialRecord, TrialState
from scanfleet.wire import ScanSummary

RUNNING_STATE = TrialState.RUNNING
RUNNING = frozenset({RUNNING_STATE})


class ScanBackend(ABC):
    """The calls ``optimize`` makes. Every method is safe from several threads.

    A claim holds a lease (``heartbeat`` renews it); ``complete``, ``prune`` and ``fail``
    carry the attempt claimed, so a trial re-queued meanwhile is not overwritten.
    """

    scan_id: str = ""

    @abstractmethod
    def open_scan(self, name: str, config: ScanConfig, token: str) -> tuple[str, bool]:
        """Create the scan, or find the one created with ``token``; (scan id, created)."""

    @abstractmethod
    def claim(self, worker_id: str) -> TrialRecord | None:
        """The next trial, claimed; None when none is free now.

        Raises:
            ScanFinishedError: the scan is finished.
        """

    @abstractmethod
    def heartbeat(self, trial: TrialRecord) -> None: ...

    @abstractmethod
    def report(self, trial: TrialRecord, metric: str, step: int, value: float) -> bool:
        """Store an intermediate value; True when the pruner says to stop."""

    @abstractmethod
    def complete(self, trial: TrialRecord, values: dict[str, float]) -> None: ...

    @abstractmethod
    def prune(self, trial: TrialRecord) -> None: ...

    @abstractmethod
    def fail(self, trial: TrialRecord, reason: str, *, retry: bool, preempted: bool) -> None: ...

    @abstractmethod
    def running(self) -> list[TrialRecord]:
        """The scan's RUNNING trials."""

    @abstractmethod
    def summary(self) -> ScanSummary: ...

    @abstractmethod
    def trials(self) -> list[TrialRecord]: ...

    @abstractmethod
    def report_data(self) -> Any:
        """The ``scanfleet.report.ScanResults`` of the scan."""

    @abstractmethod
    def close(self) -> None:
        """Release what the backend holds."""


class EmbeddedBackend(ScanBackend):
    """The local service of ``state_dir`` in this process (what ``local run`` serves).

    Calls go through one lock, as the local server resolves one request at a time; the
    scan belongs to the state folder's default token, so ``scanfleet local serve`` and
    ``local run`` on the same folder see it.
    """

    def __init__(self, state_dir: str | Path) -> None:
        from scanfleet.local.auth import TokenStore, owner_id
        from scanfleet.local.server import open_local_service
        from scanfleet.local.state_dir import prepare_state_dir

        prepare_state_dir(state_dir)
        self.service = open_local_service(state_dir)
        self.owner = owner_id(TokenStore(state_dir).default_token)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _serial(self) -> Iterator[None]:
        with self._lock:
            yield

    def open_scan(self, name: str, config: ScanConfig, token: str) -> tuple[str, bool]:
        with self._serial():
            scan, created = self.service.create_scan(
                name, config, owner=self.owner, client_token=token
            )
        self.scan_id = scan.scan_id
        return scan.scan_id, created

    def claim(self, worker_id: str) -> TrialRecord | None:
        with self._serial():
            return self.service.claim_next_trial(self.scan_id, worker_id, owner=self.owner)

    def heartbeat(self, trial: TrialRecord) -> None:
        with self._serial():
            self.service.heartbeat(
                trial.trial_id,
                owner=self.owner,
                worker_id=trial.worker_id or "",
                attempt=trial.attempt,
            )

    def report(self, trial: TrialRecord, metric: str, step: int, value: float) -> bool:
        with self._serial():
            decision = self.service.report(trial.trial_id, metric, step, value, owner=self.owner)
        return decision.prune

    def complete(self, trial: TrialRecord, values: dict[str, float]) -> None:
        with self._serial():
            self.service.complete(trial.trial_id, values, owner=self.owner, attempt=trial.attempt)

    def prune(self, trial: TrialRecord) -> None:
        with self._serial():
            self.service.prune(trial.trial_id, owner=self.owner, attempt=trial.attempt)

    def fail(self, trial: TrialRecord, reason: str, *, retry: bool, preempted: bool) -> None:
        with self._serial():
            self.service.fail(
                trial.trial_id,
                reason,
                owner=self.owner,
                attempt=trial.attempt,
                retry=retry,
                preempted=preempted,
            )

    def running(self) -> list[TrialRecord]:
        with self._serial():
            return self.service.list_trials(self.scan_id, owner=self.owner, states=RUNNING)

    def summary(self) -> ScanSummary:
        with self._serial():
            return self.service.summarize(self.scan_id, owner=self.owner)

    def trials(self) -> list[TrialRecord]:
        with self._serial():
            return self.service.list_trials(self.scan_id, owner=self.owner)

    def report_data(self) -> Any:
        from scanfleet.report import ScanResults

        with self._serial():
            return ScanResults.from_service(self.service, self.scan_id, owner=self.owner)

    def close(self) -> None:
        close_cleanly = getattr(self.service.store, "close_cleanly", None)
        if close_cleanly is not None:  # the WAL checkpointed into the file
            close_cleanly()


class RemoteBackend(ScanBackend):
    """A scanfleet API over HTTP(S) (``scanfleet local serve``, or the stack's ApiUrl),
    through the SDK's ``Client``; its token from ``token`` or ``SCANFLEET_TOKEN``."""

    def __init__(self, url: str, token: str | None = None) -> None:
        from scanfleet.client import Client

        self.client = Client(url=url, token=token)
        self._scan: Any = None

    def open_scan(self, name: str, config: ScanConfig, token: str) -> tuple[str, bool]:
        before = {s.id for s in self.client.list_scans()}
        self._scan = self.client.create_scan(name, config, idempotency_key=token)
        self.scan_id = self._scan.id
        return self.scan_id, self.scan_id not in before

    def _trial(self, trial: TrialRecord) -> Any:
        from scanfleet.client import Trial

        return Trial(self.client, trial, worker_id=trial.worker_id, attempt=trial.attempt)

    def claim(self, worker_id: str) -> TrialRecord | None:
        claimed = self._scan.next_trial(worker_id)
        return None if claimed is None else claimed.record

    def heartbeat(self, trial: TrialRecord) -> None:
        self._trial(trial).heartbeat()

    def report(self, trial: TrialRecord, metric: str, step: int, value: float) -> bool:
        return bool(self._trial(trial).report(metric, value, step))

    def complete(self, trial: TrialRecord, values: dict[str, float]) -> None:
        self._trial(trial).complete(values)

    def prune(self, trial: TrialRecord) -> None:
        self._trial(trial).prune()

    def fail(self, trial: TrialRecord, reason: str, *, retry: bool, preempted: bool) -> None:
        self._trial(trial).fail(reason, retry=retry, preempted=preempted)

    def running(self) -> list[TrialRecord]:
        return [t.record for t in self.client.get_scan(self.scan_id).trials(RUNNING_STATE)]

    def summary(self) -> ScanSummary:
        answer = self.client.http.request("GET", f"/scans/{self.scan_id}")
        return ScanSummary.model_validate(answer.body)

    def trials(self) -> list[TrialRecord]:
        return [t.record for t in self.client.get_scan(self.scan_id).trials()]

    def report_data(self) -> Any:
        from scanfleet.report import ScanResults

        return ScanResults.from_scan(self.client.get_scan(self.scan_id))

    def close(self) -> None:
        pass  # the client holds no connection between calls
