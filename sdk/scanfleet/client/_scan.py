"""``Scan``: one scan over the API — its state, its trials, manual mode, exports."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanfleet.client._errors import GoneError
from scanfleet.client._models import ScanSummary, TrialList
from scanfleet.client._progress import ProgressLine
from scanfleet.client._rows import names_for, row_columns, trial_row
from scanfleet.client._trial import Trial
from scanfleet.config import ScanConfig
from scanfleet.records import ScanRecord, ScanStatus, TrialRecord, TrialState

if TYPE_CHECKING:
    from scanfleet.client._client import Client


class Scan:
    """A scan as of the last answer of the API (``refresh()`` asks again).

    ``counts`` (trials per state) and the best trial come with ``get_scan``/``refresh``;
    scans from ``list_scans`` have empty counts until refreshed.
    """

    def __init__(self, client: Client, summary: ScanSummary) -> None:
        self._client = client
        self._set(summary)
        self._config: ScanConfig | None = None

    def _set(self, summary: ScanSummary) -> Scan:
        self.record: ScanRecord = summary.scan
        self.counts: dict[TrialState, int] = dict(summary.counts)
        self.planned_trials: int | None = summary.planned_trials
        self._best = summary.best_trial
        return self

    def _summary(self, method: str, path: str, body: Any = None) -> Scan:
        data = self._client.http.request(method, path, body).body
        return self._set(ScanSummary.model_validate(data))

    def __repr__(self) -> str:
        return f"Scan(id={self.id!r}, name={self.name!r}, status={self.status.value})"

    # ---- what it is ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.record.scan_id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def status(self) -> ScanStatus:
        return self.record.status

    @property
    def config(self) -> ScanConfig:
        """The validated config the scan runs with."""
        if self._config is None:
            self._config = ScanConfig.model_validate(self.record.config)
        return self._config

    @property
    def metric(self) -> str:
        return str(self.record.config["metric"]["name"])

    def refresh(self) -> Scan:
        return self._summary("GET", f"/scans/{self.id}")

    def _records(self, state: TrialState | str | None = None) -> list[TrialRecord]:
        query = {"state": TrialState(state).value if state else None}
        data = self._client.http.request("GET", f"/scans/{self.id}/trials", query=query).body
        return TrialList.model_validate(data).trials

    def trials(self, state: TrialState | str | None = None) -> list[Trial]:
        """Every trial (or those in ``state``), in order of creation."""
        return [Trial(self._client, r) for r in sorted(self._records(state), key=_number)]

    def best_trial(self) -> Trial | None:
        """The best finished trial by the scan's metric and goal (asks the API)."""
        self.refresh()
        return Trial(self._client, self._best) if self._best is not None else None

    # ---- waiting ---------------------------------------------------------------------------

    def progress_line(self) -> str:
        c = self.counts
        done = sum(c.get(s, 0) for s in (TrialState.COMPLETED, TrialState.PRUNED))
        planned = f"/{self.planned_trials}" if self.planned_trials else ""
        best = ""
        if self._best is not None:
            best = f"  best {self.metric}={self._best.values.get(self.metric)}"
        return (
            f"{self.name} {self.id} [{self.status.value}] done {done}{planned}"
            f"  running {c.get(TrialState.RUNNING, 0)}  queued {c.get(TrialState.QUEUED, 0)}"
            f"  pruned {c.get(TrialState.PRUNED, 0)}  failed {c.get(TrialState.FAILED, 0)}{best}"
        )

    def wait(self, progress: bool = False, poll: float = 2.0, timeout: float | None = None) -> Scan:
        """Block until the scan is COMPLETED, FAILED or CANCELLED.

        Args:
            progress: show a one-line progress on stderr (rich when installed).
            poll: seconds between two looks.
            timeout: give up after this many seconds.

        Raises:
            TimeoutError: still running after ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        line = ProgressLine() if progress else None
        try:
            while True:
                self.refresh()
                if line is not None:
                    line.update(self.progress_line())
                if self.status.is_finished():
                    return self
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"scan {self.id} still {self.status.value} after {timeout}s")
                self._client.http.sleep(poll)
        finally:
            if line is not None:
                line.close()

    # ---- manual mode -----------------------------------------------------------------------

    def next_trial(
        self, worker_id: str | None = None, *, lease_seconds: float | None = None
    ) -> Trial | None:
        """Claim the next trial to run; None when none is free right now (the last ones
        run elsewhere, or a re-queued one is not back yet).

        Raises:
            ScanFinishedError (GoneError, 410): the scan is finished.
        """
        worker = worker_id or self._client.worker_id
        body: dict[str, Any] = {"worker_id": worker}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        answer = self._client.http.request("POST", f"/scans/{self.id}/trials/claim", body)
        if answer.status == 204 or answer.body is None:
            return None
        record = TrialRecord.model_validate(answer.body)
        return Trial(self._client, record, worker_id=worker, attempt=record.attempt)

    def work(self, worker_id: str | None = None, *, poll: float = 1.0) -> Iterator[Trial]:
        """Claimed trials, one at a time, until the scan is finished (waiting while the
        last ones run elsewhere): ``for trial in scan.work(): trial.complete(f(**trial.params))``.
        """
        while True:
            try:
                trial = self.next_trial(worker_id)
            except GoneError:
                return
            if trial is None:
                self._client.http.sleep(poll)
                continue
            yield trial

    def add_trial(self, params: dict[str, Any], tags: dict[str, str] | None = None) -> Trial:
        """Queue a trial with these params (the same params again: the existing trial)."""
        body = {"params": params, "tags": tags or {}}
        data = self._client.http.request("POST", f"/scans/{self.id}/trials", body).body
        return Trial(self._client, TrialRecord.model_validate(data))

    def cancel(self) -> Scan:
        """Stop the scan; its unfinished trials become FAILED. Cancelling twice is harmless."""
        return self._summary("POST", f"/scans/{self.id}/cancel")

    def extend(self, max_run: int) -> Scan:
        """Raise the scan's ``max_run`` (a COMPLETED scan runs again)."""
        return self._summary("POST", f"/scans/{self.id}/extend", {"max_run": max_run})

    # ---- exports ---------------------------------------------------------------------------

    def _table(self) -> tuple[list[str], Iterator[dict[str, Any]]]:
        records = sorted(self._records(), key=_number)
        params, metrics = names_for(self.record.config, records)
        return row_columns(params, metrics), (trial_row(r, params, metrics) for r in records)

    def rows(self) -> Iterator[dict[str, Any]]:
        """One flat dict per trial, with the columns of ``to_csv``."""
        return self._table()[1]

    def to_csv(self, path: str | Path) -> Path:
        """Write every trial to ``path``, a row at a time: trial_id, number, state, attempt,
        preemptions, errors, duration_s, worker_id, ``param.<name>``..., ``value.<name>``...
        Needs no pandas."""
        path = Path(path)
        columns, rows = self._table()
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
        return path

    def to_dataframe(self) -> Any:
        """The trials as a pandas DataFrame, with the columns of ``to_csv``.

        Raises:
            ImportError: pandas is not installed (``pip install 'scanfleet[pandas]'``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Scan.to_dataframe() needs pandas, which is not installed: "
                "pip install 'scanfleet[pandas]' (or use Scan.to_csv, which does not)"
            ) from None
        columns, rows = self._table()
        return pd.DataFrame.from_records(list(rows), columns=columns)


def _number(trial: TrialRecord) -> int:
    return trial.number
