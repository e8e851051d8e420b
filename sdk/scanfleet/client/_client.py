"""The SDK: Client, Scan and Trial over the HTTP API."""

from __future__ import annotations

import csv
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scanfleet.client._errors import GoneError
from scanfleet.client._http import Transport
from scanfleet.config import ScanConfig, load_config
from scanfleet.names import ENV_API_URL, ENV_TOKEN
from scanfleet.records import ScanRecord, ScanStatus, TrialRecord, TrialState

DEFAULT_TIMEOUT_S = 30.0


class Client:
    """``Client(url=None, token=None)``: settings from arguments, then the environment
    (``SCANFLEET_API_URL``, ``SCANFLEET_TOKEN``)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 4,
    ) -> None:
        url = url or os.environ.get(ENV_API_URL)
        if not url:
            raise ValueError(
                f"no API URL: pass url= or set {ENV_API_URL} (see `scanfleet local serve`)"
            )
        token = token or os.environ.get(ENV_TOKEN)
        self.http = Transport(url, token, timeout=timeout, max_retries=max_retries)

    @property
    def url(self) -> str:
        return self.http.url

    def create_scan(self, name: str, config: ScanConfig | dict[str, Any] | str | Path) -> Scan:
        """Validate locally (a ConfigError lists every problem before any request), then
        create the scan."""
        cfg = load_config(config)
        _, body = self.http.request(
            "POST", "/scans", {"name": name, "config": cfg.model_dump(mode="json")}
        )
        return Scan._from_summary(self, body)

    def get_scan(self, scan_id: str) -> Scan:
        _, body = self.http.request("GET", f"/scans/{scan_id}")
        return Scan._from_summary(self, body)

    def list_scans(
        self, *, status: ScanStatus | str | None = None, tag: str | None = None
    ) -> list[Scan]:
        query = {"status": str(status) if status else None, "tag": tag}
        _, body = self.http.request("GET", "/scans", query=query)
        return [Scan(self, ScanRecord.model_validate(s)) for s in body["scans"]]

    def get_trial(self, trial_id: str) -> Trial:
        _, body = self.http.request("GET", f"/trials/{trial_id}")
        return Trial(self, TrialRecord.model_validate(body))


class Scan:
    def __init__(
        self,
        client: Client,
        record: ScanRecord,
        counts: dict[TrialState, int] | None = None,
        best: TrialRecord | None = None,
    ) -> None:
        self._client = client
        self.record = record
        self.counts: dict[TrialState, int] = counts or {}
        self._best = best

    @classmethod
    def _from_summary(cls, client: Client, body: dict[str, Any]) -> Scan:
        best = body.get("best_trial")
        return cls(
            client,
            ScanRecord.model_validate(body["scan"]),
            {TrialState(k): v for k, v in body["counts"].items()},
            TrialRecord.model_validate(best) if best else None,
        )

    def __repr__(self) -> str:
        return f"Scan(id={self.id!r}, name={self.name!r}, status={self.status.value})"

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
        return ScanConfig.model_validate(self.record.config)

    def refresh(self) -> Scan:
        fresh = self._client.get_scan(self.id)
        self.record, self.counts, self._best = fresh.record, fresh.counts, fresh._best
        return self

    def trials(self, state: TrialState | str | None = None) -> list[Trial]:
        query = {"state": str(state) if state else None}
        _, body = self._client.http.request("GET", f"/scans/{self.id}/trials", query=query)
        return [Trial(self._client, TrialRecord.model_validate(t)) for t in body["trials"]]

    def best_trial(self) -> Trial | None:
        self.refresh()
        return Trial(self._client, self._best) if self._best else None

    def wait(
        self, *, progress: bool = False, poll: float = 2.0, timeout: float | None = None
    ) -> Scan:
        """Block until the scan is finished; with ``progress``, a line on stderr."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh()
            if progress:
                print("\r" + self.progress_line(), end="", file=sys.stderr, flush=True)
            if self.status.is_finished():
                if progress:
                    print(file=sys.stderr)
                return self
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"scan {self.id} still {self.status.value} after {timeout}s")
            time.sleep(poll)

    def progress_line(self) -> str:
        c = self.counts
        best = ""
        if self._best is not None:
            metric = self.config.metric.name
            best = f"  best {metric}={self._best.values.get(metric)}"
        return (
            f"{self.name} [{self.status.value}] done {c.get(TrialState.COMPLETED, 0)}"
            f"  running {c.get(TrialState.RUNNING, 0)}  queued {c.get(TrialState.QUEUED, 0)}"
            f"  pruned {c.get(TrialState.PRUNED, 0)}  failed {c.get(TrialState.FAILED, 0)}{best}"
        )

    def next_trial(
        self, worker_id: str | None = None, *, lease_seconds: float | None = None
    ) -> Trial | None:
        """Claim the next trial: None when none is free right now.

        Raises:
            GoneError (ScanFinishedError): the scan is finished.
        """
        worker = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        body: dict[str, Any] = {"worker_id": worker}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        status, data = self._client.http.request("POST", f"/scans/{self.id}/trials/claim", body)
        if status == 204 or data is None:
            return None
        return Trial(self._client, TrialRecord.model_validate(data))

    def work(self, worker_id: str | None = None, *, poll: float = 1.0) -> Iterator[Trial]:
        """Trials to run, one at a time, until the scan is finished (waiting while the
        last ones run elsewhere). The manual-mode loop: ``for trial in scan.work(): ...``."""
        while True:
            try:
                trial = self.next_trial(worker_id)
            except GoneError:
                return
            if trial is None:
                time.sleep(poll)
                continue
            yield trial

    def add_trial(self, params: dict[str, Any], tags: dict[str, str] | None = None) -> Trial:
        _, data = self._client.http.request(
            "POST", f"/scans/{self.id}/trials", {"params": params, "tags": tags or {}}
        )
        return Trial(self._client, TrialRecord.model_validate(data))

    def cancel(self) -> Scan:
        self._client.http.request("POST", f"/scans/{self.id}/cancel")
        return self.refresh()

    def extend(self, max_run: int) -> Scan:
        self._client.http.request("POST", f"/scans/{self.id}/extend", {"max_run": max_run})
        return self.refresh()

    def rows(self) -> Iterator[dict[str, Any]]:
        """One flat row per trial: trial columns, ``param.<name>``, ``value.<metric>``."""
        config = self.config
        metrics = [config.metric.name]
        for trial in self.trials():
            yield trial_row(trial.record, list(config.parameters), metrics)

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        config = self.config
        columns = row_columns(list(config.parameters), [config.metric.name])
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for row in self.rows():
                writer.writerow(row)
        return path

    def to_dataframe(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas") from None
        config = self.config
        columns = row_columns(list(config.parameters), [config.metric.name])
        return pd.DataFrame(list(self.rows()), columns=columns)


TRIAL_COLUMNS = (
    "trial_id",
    "number",
    "state",
    "attempt",
    "preemptions",
    "errors",
    "duration_s",
    "worker_id",
)


def row_columns(params: list[str], metrics: list[str]) -> list[str]:
    return [*TRIAL_COLUMNS, *(f"param.{p}" for p in params), *(f"value.{m}" for m in metrics)]


def trial_row(trial: TrialRecord, params: list[str], metrics: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trial_id": trial.trial_id,
        "number": trial.number,
        "state": trial.state.value,
        "attempt": trial.attempt,
        "preemptions": trial.preemptions,
        "errors": trial.errors,
        "duration_s": round(trial.duration_s, 3),
        "worker_id": trial.worker_id,
    }
    for p in params:
        row[f"param.{p}"] = trial.params.get(p)
    for m in metrics:
        row[f"value.{m}"] = trial.values.get(m)
    return row


class Trial:
    def __init__(self, client: Client, record: TrialRecord) -> None:
        self._client = client
        self.record = record
        self._prune = False

    def __repr__(self) -> str:
        return f"Trial(id={self.id!r}, state={self.state.value}, params={self.params!r})"

    @property
    def id(self) -> str:
        return self.record.trial_id

    @property
    def params(self) -> dict[str, Any]:
        return self.record.params

    @property
    def number(self) -> int:
        return self.record.number

    @property
    def attempt(self) -> int:
        return self.record.attempt

    @property
    def state(self) -> TrialState:
        return self.record.state

    @property
    def values(self) -> dict[str, float]:
        return self.record.values

    def _post(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        _, data = self._client.http.request("POST", f"/trials/{self.id}/{action}", body)
        return data  # type: ignore[no-any-return]

    def _update(self, data: dict[str, Any]) -> Trial:
        self.record = TrialRecord.model_validate(data)
        return self

    def refresh(self) -> Trial:
        _, data = self._client.http.request("GET", f"/trials/{self.id}")
        return self._update(data)

    def report(self, name: str, value: float, step: int) -> bool:
        """Store an intermediate value; True when the pruner says stop."""
        data = self._post("reports", {"metric": name, "step": step, "value": value})
        self._prune = bool(data["prune"])
        return self._prune

    def should_prune(self) -> bool:
        return self._prune

    def heartbeat(self) -> Trial:
        worker = self.record.worker_id or ""
        return self._update(
            self._post("heartbeat", {"worker_id": worker, "attempt": self.record.attempt})
        )

    def checkpoint(self, step: int, uri: str) -> Trial:
        return self._update(self._post("checkpoints", {"step": step, "uri": uri}))

    def complete(self, value: float | dict[str, float]) -> Trial:
        body: dict[str, Any] = (
            {"values": value} if isinstance(value, dict) else {"value": float(value)}
        )
        if self.record.state is TrialState.RUNNING:
            body["attempt"] = self.record.attempt
        return self._update(self._post("complete", body))

    def prune(self) -> Trial:
        body = {"attempt": self.record.attempt} if self.record.state is TrialState.RUNNING else {}
        return self._update(self._post("prune", body))

    def fail(self, reason: str, *, preempted: bool = False, retry: bool = True) -> Trial:
        body: dict[str, Any] = {"reason": reason, "preempted": preempted, "retry": retry}
        if self.record.state is TrialState.RUNNING:
            body["attempt"] = self.record.attempt
        return self._update(self._post("fail", body))


__all__ = ["Client", "GoneError", "Scan", "Trial"]
