"""``Scan``: one scan over the API — its state, its trials, manual mode, exports."""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from scanfleet.client._errors import GoneError, NotFoundError
from scanfleet.client._progress import ProgressLine
from scanfleet.client._rows import column_names, row_columns, trial_row
from scanfleet.client._trial import Trial
from scanfleet.config import ScanConfig
from scanfleet.display import format_value
from scanfleet.records import ScanRecord, ScanStatus, SeedSummary, TrialRecord, TrialState
from scanfleet.wire import IntermediateValues, ScanSummary, TrialList

if TYPE_CHECKING:
    from scanfleet.client._client import Client

_Page = TypeVar("_Page", TrialList, IntermediateValues)


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
        self.seeds: SeedSummary | None = summary.seeds
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

    def iter_records(
        self,
        state: TrialState | str | None = None,
        *,
        after: int = -1,
        page_size: int | None = None,
    ) -> Iterator[TrialRecord]:
        """Every trial record (or those in ``state``; those numbered above ``after``) in
        order of creation, fetched a page at a time as the iteration goes (a 100,000-trial
        scan is never held in memory)."""
        query: dict[str, Any] = {"state": TrialState(state).value if state else None}
        if page_size is not None:
            query["limit"] = page_size
        for page in self._pages(f"/scans/{self.id}/trials", query, TrialList, after):
            yield from page.trials

    def _pages(
        self, path: str, query: dict[str, Any], model: type[_Page], after: int = -1
    ) -> Iterator[_Page]:
        """The pages of a listing paged by trial number, following ``next_after`` from
        ``after`` to the last page."""
        cursor: int | None = after
        while cursor is not None:
            data = self._client.http.request("GET", path, query={**query, "after": cursor}).body
            page = model.model_validate(data)
            yield page
            cursor = page.next_after

    def trials(self, state: TrialState | str | None = None) -> list[Trial]:
        """Every trial (or those in ``state``), in order of creation."""
        return [Trial(self._client, r) for r in self.iter_records(state)]

    def intermediate_values(
        self, metric: str | None = None, state: TrialState | str | None = None, *, after: int = -1
    ) -> dict[str, dict[int, float]]:
        """``{trial_id: {step: value}}``: the values reported during the trials for
        ``metric`` (default: the scan's), of the trials in ``state`` when given (and
        numbered above ``after``). The API answers a page of trials at a time; this follows
        the pages to the last."""
        query = {"metric": metric, "state": TrialState(state).value if state else None}
        path = f"/scans/{self.id}/intermediate-values"
        curves: dict[str, dict[int, float]] = {}
        for page in self._pages(path, query, IntermediateValues, after):
            curves.update(page.trials)
        return curves

    def best_trial(self) -> Trial | None:
        """The best finished trial by the scan's metric and goal (asks the API)."""
        self.refresh()
        return Trial(self._client, self._best) if self._best is not None else None

    def best_trials(self) -> list[Trial]:
        """The Pareto front of the scan's metrics: the COMPLETED trials no other one beats
        on every metric (with one metric: the best trial). Asks the API."""
        data = self._client.http.request("GET", f"/scans/{self.id}/best-trials").body
        return [Trial(self._client, r) for r in TrialList.model_validate(data).trials]

    def gather_seeds(self, n: int) -> SeedSummary:
        """Run the best parameters again with seeds 0 .. n-1 (a COMPLETED scan runs again
        for them; its workers, or ``scanfleet local run`` again, run them). Returns the
        seed summary so far; ``refresh().seeds`` later has the means and spreads.

        Raises:
            ConflictError: ``no_best_trial`` (nothing completed yet), or the scan was
                cancelled or failed.
        """
        self._summary("POST", f"/scans/{self.id}/seeds", {"n": n})
        assert self.seeds is not None  # the API has just queued them
        return self.seeds

    # ---- waiting ---------------------------------------------------------------------------

    def progress_line(self) -> str:
        c = self.counts
        done = sum(c.get(s, 0) for s in (TrialState.COMPLETED, TrialState.PRUNED))
        planned = f"/{self.planned_trials}" if self.planned_trials else ""
        best = ""
        if self._best is not None:
            best = f"  best {self.metric}={format_value(self._best.values.get(self.metric))}"
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

    def delete(self) -> None:
        """Delete the scan and its trials.

        Raises:
            NotFoundError: no such scan (also when it was deleted before).
        """
        try:
            self._client.http.request("DELETE", f"/scans/{self.id}")
        except NotFoundError as error:
            if error.attempts <= 1:  # else our own first attempt deleted it; its answer was lost
                raise

    def set_status(self, status: ScanStatus | str) -> Scan:
        """Mark the scan COMPLETED (nothing more is handed out: done, or paused) or
        RUNNING again."""
        body = {"status": ScanStatus(status).value}
        return self._summary("POST", f"/scans/{self.id}/status", body)

    def cancel(self) -> Scan:
        """Stop the scan; its unfinished trials become FAILED. Cancelling twice is harmless."""
        return self._summary("POST", f"/scans/{self.id}/cancel")

    def extend(self, max_run: int) -> Scan:
        """Raise the scan's ``max_run`` (a COMPLETED scan runs again)."""
        return self._summary("POST", f"/scans/{self.id}/extend", {"max_run": max_run})

    # ---- exports ---------------------------------------------------------------------------

    def _table(
        self, tags: dict[str, str] | None = None
    ) -> tuple[list[str], Iterator[dict[str, Any]]]:
        """The header and the rows, in one pass over the pages: the records are spooled
        to a temporary file while the column names are gathered (extra params and metrics
        can appear on any trial), then read back a row at a time. With ``tags``, only the
        trials that carry every one of them."""
        seen_params: set[str] = set()
        seen_metrics: set[str] = set()
        spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (rows() closes it)
        try:
            for record in self.iter_records():
                if tags and any(record.tags.get(k) != v for k, v in tags.items()):
                    continue
                seen_params.update(record.params)
                seen_metrics.update(record.values)
                spool.write(record.model_dump_json() + "\n")
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        params, metrics = column_names(self.record.config, seen_params, seen_metrics)

        def rows() -> Iterator[dict[str, Any]]:
            with spool:
                for line in spool:
                    yield trial_row(TrialRecord.model_validate_json(line), params, metrics)

        return row_columns(params, metrics), rows()

    def rows(self, tags: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """One flat dict per trial (with ``tags``: per trial carrying them), with the
        columns of ``to_csv``."""
        return self._table(tags)[1]

    def to_csv(self, path: str | Path, tags: dict[str, str] | None = None) -> Path:
        """Write every trial (with ``tags``: every trial carrying them) to ``path``, a row
        at a time: trial_id, number, state, attempt, preemptions, errors, duration_s,
        worker_id, ``param.<name>``..., ``value.<name>``...
        Needs no pandas; streams (memory stays flat however many trials the scan has)."""
        path = Path(path)
        columns, rows = self._table(tags)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return path

    def to_dataframe(self, tags: dict[str, str] | None = None) -> Any:
        """The trials (with ``tags``: those carrying them) as a pandas DataFrame, with the
        columns of ``to_csv``.

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
        columns, rows = self._table(tags)
        return pd.DataFrame.from_records(list(rows), columns=columns)
