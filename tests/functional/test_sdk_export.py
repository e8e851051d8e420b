"""Exports through the SDK against the real local server: to_csv (no pandas) and
to_dataframe have the same columns, one per parameter and one per metric."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from scanfleet.client import Client, Scan

pd = pytest.importorskip("pandas")

GRID = {
    "strategy": "grid",
    "execution": {"type": "manual"},
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "batch_size": {"values": [2, 4, 8]},
        "learning_rate": {"values": [1e-3, 1e-4, 1e-5]},
    },
}
TRIAL_COLUMNS = [
    "trial_id", "number", "state", "attempt", "preemptions", "errors", "duration_s", "worker_id",
]  # fmt: skip
COLUMNS = [*TRIAL_COLUMNS, "param.batch_size", "param.learning_rate", "value.loss"]
REASON = "failure_reason"  # the last column


@pytest.fixture
def finished(client: Client) -> Scan:
    """9 trials: 7 completed (two with an extra metric), one failed, one still running."""
    scan = client.create_scan("out", GRID)
    for i in range(9):
        trial = scan.next_trial(f"w{i % 2}")
        assert trial is not None
        loss = trial.params["batch_size"] * 1.0
        if i == 7:
            trial.fail("diverged", retry=False)
        elif i == 8:
            pass  # left running
        elif i < 2:
            trial.complete({"loss": loss, "accuracy": 0.5 + i / 10})
        else:
            trial.complete(loss)
    return scan


def test_to_csv_has_a_column_per_param_and_metric_and_a_row_per_trial(
    finished: Scan, tmp_path: Path
) -> None:
    path = finished.to_csv(tmp_path / "trials.csv")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        assert reader.fieldnames == [*COLUMNS, "value.accuracy", REASON]
    assert [int(r["number"]) for r in rows] == list(range(9))
    states = [r["state"] for r in rows]
    assert states.count("COMPLETED") == 7 and states[7] == "FAILED" and states[8] == "RUNNING"
    first = rows[0]
    assert first["trial_id"].startswith(finished.id) and first["attempt"] == "1"
    assert float(first["value.loss"]) == float(first["param.batch_size"])
    assert first["value.accuracy"] == "0.5" and rows[2]["value.accuracy"] == ""
    assert rows[7]["value.loss"] == "" and rows[8]["worker_id"] == "w0"
    assert rows[7][REASON] == "diverged" and rows[0][REASON] == ""


def test_to_dataframe_has_the_same_columns_and_numbers(finished: Scan, tmp_path: Path) -> None:
    df = finished.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == [*COLUMNS, "value.accuracy", REASON]
    assert df[REASON].tolist()[7] == "diverged" and df[REASON].isna().sum() == 8
    assert len(df) == 9 and df["value.loss"].min() == 2.0
    assert pd.api.types.is_float_dtype(df["value.loss"]) and df["value.loss"].isna().sum() == 2
    from_csv = pd.read_csv(finished.to_csv(tmp_path / "t.csv"))
    assert list(from_csv.columns) == list(df.columns)
    assert from_csv["trial_id"].tolist() == df["trial_id"].tolist()


def test_an_empty_scan_exports_a_header_only(client: Client, tmp_path: Path) -> None:
    scan = client.create_scan("empty", GRID)
    path = scan.to_csv(tmp_path / "empty.csv")
    assert path.read_text().strip().split(",") == [*COLUMNS, REASON]
    assert list(scan.to_dataframe().columns) == [*COLUMNS, REASON]
