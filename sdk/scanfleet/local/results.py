"""The results folder of a local run: trials.csv (appended as trials finish), best.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from scanfleet.client import row_columns, trial_row
from scanfleet.config import ScanConfig
from scanfleet.records import TrialRecord


class ResultsWriter:
    """Appends each finished trial once, across restarts (rows already in the CSV are
    remembered), so a killed run keeps what it did and a resumed one never repeats a row."""

    def __init__(self, folder: Path, config: ScanConfig) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.csv_path = folder / "trials.csv"
        self.params = list(config.parameters)
        self.metrics = [config.metric.name]
        self.columns = row_columns(self.params, self.metrics)
        self.written: set[str] = set()
        if self.csv_path.exists():
            with self.csv_path.open(newline="") as f:
                self.written = {row["trial_id"] for row in csv.DictReader(f)}
        else:
            with self.csv_path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns).writeheader()

    def append(self, trials: list[TrialRecord]) -> int:
        new = [t for t in trials if t.state.is_finished() and t.trial_id not in self.written]
        if not new:
            return 0
        with self.csv_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            for trial in sorted(new, key=lambda t: t.number):
                writer.writerow(trial_row(trial, self.params, self.metrics))
                self.written.add(trial.trial_id)
            f.flush()
        return len(new)

    def write_best(self, scan: dict[str, Any], best: TrialRecord | None) -> Path:
        path = self.folder / "best.json"
        body = {
            "scan_id": scan["scan_id"],
            "name": scan["name"],
            "status": scan["status"],
            "metric": self.metrics[0],
            "best_trial": None
            if best is None
            else {
                "trial_id": best.trial_id,
                "number": best.number,
                "params": best.params,
                "values": best.values,
            },
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        tmp.replace(path)
        return path
