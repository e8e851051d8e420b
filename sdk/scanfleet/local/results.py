"""The results folder of a local run: trials.csv (appended as trials finish), best.json,
report.html (at the end), and ``.scan-id``: the one scan whose results it holds."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanfleet.client import column_names, row_columns, trial_row
from scanfleet.config import ScanConfig
from scanfleet.records import SeedSummary, TrialRecord, scan_id_of

if TYPE_CHECKING:
    from scanfleet.report import ScanResults

SLOW_REPORT_S = 2.0  # past this, the run says how long the report took
SCAN_ID_FILE = ".scan-id"  # the scan a results folder belongs to


def folder_owner(folder: Path) -> str | None:
    """The scan id a results folder belongs to: its ``.scan-id``; for a folder written
    before the marker existed, the scan of the trials in its trials.csv (a trial id is
    ``<scan id>-<hash>``); None for a folder that holds no results."""
    marker = folder / SCAN_ID_FILE
    if marker.is_file():
        return marker.read_text().strip() or None
    trials = folder / "trials.csv"
    if not trials.is_file():
        return None
    with trials.open(newline="") as f:
        scans = {scan_id_of(row.get("trial_id") or "") for row in csv.DictReader(f)}
    if not scans:
        return None
    return scans.pop() if len(scans) == 1 else "several scans"


def names_of(header: list[str], prefix: str) -> list[str]:
    """The names of a CSV header's columns that start with ``prefix`` (``param.``)."""
    return [c[len(prefix) :] for c in header if c.startswith(prefix)]


def results_folder(out_dir: Path, name: str, scan_id: str) -> tuple[Path, bool]:
    """The results folder of scan ``scan_id`` named ``name``: ``<out_dir>/<name>`` unless
    that folder holds another scan's results (an edited config makes a new scan under the
    same name), then ``<out_dir>/<name>-<scan_id>``. Returns the folder and whether it is
    that second one. Results of two scans never share a folder."""
    folder = out_dir / name
    owner = folder_owner(folder)
    if owner is None or owner == scan_id:
        return folder, False
    return out_dir / f"{name}-{scan_id}", True


class ResultsWriter:
    """Appends each finished trial once, across restarts (rows already in the CSV are
    remembered), so a killed run keeps what it did and a resumed one never repeats a row.

    The header holds the config's parameters and metrics and grows with any other name a
    trial carries (an extra metric such as ``val_acc``): the file is then rewritten once
    with the wider header, its rows kept."""

    def __init__(self, folder: Path, config: ScanConfig, scan_id: str) -> None:
        owner = folder_owner(folder)
        if owner is not None and owner != scan_id:
            raise ValueError(f"{folder} holds the results of scan {owner}, not {scan_id}")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        (folder / SCAN_ID_FILE).write_text(scan_id + "\n")
        self.csv_path = folder / "trials.csv"
        self.params = list(config.parameters)
        if config.seeds is not None and config.seeds.param not in self.params:
            self.params.append(config.seeds.param)  # seed runs carry it
        self.objectives = [m.name for m in config.objectives()]
        self.metrics = list(self.objectives)  # and the other metrics the trials carry
        self.config = config.model_dump(mode="json")
        self.columns = row_columns(self.params, self.metrics)
        self.written: set[str] = set()
        if self.csv_path.exists():
            with self.csv_path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.written = {row["trial_id"] for row in reader}
                self.columns = list(reader.fieldnames or [])
            self._widen(names_of(self.columns, "param."), names_of(self.columns, "value."))
        else:
            with self.csv_path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns).writeheader()

    def append(self, trials: list[TrialRecord]) -> int:
        new = [t for t in trials if t.state.is_finished() and t.trial_id not in self.written]
        if not new:
            return 0
        self._widen({p for t in new for p in t.params}, {m for t in new for m in t.values})
        with self.csv_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            for trial in sorted(new, key=lambda t: t.number):
                writer.writerow(trial_row(trial, self.params, self.metrics))
                self.written.add(trial.trial_id)
            f.flush()
        return len(new)

    def _widen(self, params: Iterable[str], metrics: Iterable[str]) -> None:
        """Take in ``params`` and ``metrics``; when the header changes (a name it lacks, or
        a file of an earlier version), rewrite the file with the new one, rows kept."""
        self.params, self.metrics = column_names(
            self.config, [*self.params, *params], [*self.metrics, *metrics]
        )
        columns = row_columns(self.params, self.metrics)
        if columns == self.columns:
            return
        self.columns = columns
        with self.csv_path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        tmp = self.csv_path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.csv_path)

    def write_report(self, results: ScanResults) -> str:
        """Write report.html; returns a line saying where, or why there is none. Rendering
        is kept off the run's critical path: it happens once, after the workers stopped."""
        from scanfleet.report import ReportDependencyError, write_report

        path = self.folder / "report.html"
        started = time.perf_counter()
        try:
            write_report(results, path)
        except ReportDependencyError as exc:
            return f"no report.html: {exc}"
        took = time.perf_counter() - started
        slow = f" (rendering took {took:.1f}s)" if took > SLOW_REPORT_S else ""
        return f"report: {path}{slow}"

    def write_best(
        self,
        scan: dict[str, Any],
        best: TrialRecord | None,
        *,
        best_trials: list[TrialRecord] | None = None,
        seeds: SeedSummary | None = None,
    ) -> Path:
        """best.json: the status and its reason, the best trial; with several metrics the
        Pareto front as ``best_trials``; the seed runs' mean and spread as ``seeds``."""
        path = self.folder / "best.json"
        body = {
            "scan_id": scan["scan_id"],
            "name": scan["name"],
            "status": scan["status"],
            "status_reason": scan.get("status_reason"),  # why it ended ("target 0.05 reached")
            "metric": self.objectives[0],
            "best_trial": None
            if best is None
            else {
                "trial_id": best.trial_id,
                "number": best.number,
                "params": best.params,
                "values": best.values,
            },
        }
        if len(self.objectives) > 1:
            body["metrics"] = self.objectives
            body["best_trials"] = [
                {"trial_id": t.trial_id, "number": t.number, "params": t.params,
                 "values": t.values}
                for t in best_trials or []
            ]  # fmt: skip
        if seeds is not None:
            body["seeds"] = seeds.model_dump(mode="json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        tmp.replace(path)
        return path
