"""A results folder holds the results of one scan: ``.scan-id`` says which; a new scan
under the same name (an edited config) gets ``<name>-<scan id>``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from scanfleet.client._rows import TRIAL_COLUMNS
from scanfleet.config import load_config
from scanfleet.local.results import SCAN_ID_FILE, ResultsWriter, folder_owner, results_folder
from scanfleet.records import TrialRecord, TrialState

CONFIG = load_config(
    {"strategy": "grid", "metric": {"name": "m"}, "parameters": {"a": {"values": [1]}}}
)


def test_the_first_scan_takes_the_name_and_a_second_one_its_own_folder(tmp_path: Path) -> None:
    first, moved = results_folder(tmp_path, "demo", "sc1")
    assert (first, moved) == (tmp_path / "demo", False)
    ResultsWriter(first, CONFIG, "sc1")
    assert (first / SCAN_ID_FILE).read_text() == "sc1\n"
    assert results_folder(tmp_path, "demo", "sc1") == (first, False)  # a resumed scan
    second, moved = results_folder(tmp_path, "demo", "sc2")
    assert (second, moved) == (tmp_path / "demo-sc2", True)
    ResultsWriter(second, CONFIG, "sc2")
    assert results_folder(tmp_path, "demo", "sc2") == (second, True)  # resumed there


def test_a_writer_refuses_a_folder_of_another_scan(tmp_path: Path) -> None:
    ResultsWriter(tmp_path / "demo", CONFIG, "sc1")
    with pytest.raises(ValueError, match="holds the results of scan sc1, not sc2"):
        ResultsWriter(tmp_path / "demo", CONFIG, "sc2")


def test_a_folder_from_before_the_marker_belongs_to_the_scan_of_its_trials(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "trials.csv").write_text("trial_id,state\nsc1-0123456789abcdef,COMPLETED\n")
    assert folder_owner(folder) == "sc1"
    assert results_folder(tmp_path, "demo", "sc2") == (tmp_path / "demo-sc2", True)
    (folder / "trials.csv").write_text("trial_id,state\n")  # no rows yet: anyone's
    assert folder_owner(folder) is None


def test_trials_csv_grows_a_column_for_an_extra_metric_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo"
    writer = ResultsWriter(folder, CONFIG, "sc1")
    done = TrialRecord(scan_id="sc1", trial_id="sc1-0", number=0, params={"a": 1},
                       state=TrialState.COMPLETED, values={"m": 0.5})  # fmt: skip
    writer.append([done])
    failed = done.model_copy(
        update={"trial_id": "sc1-1", "number": 1, "values": {"val_acc": 0.9},
                "state": TrialState.FAILED, "failure_reason": "boom"}
    )  # fmt: skip
    writer.append([done, failed])
    with (folder / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        *TRIAL_COLUMNS,
        "param.a",
        "value.m",
        "value.val_acc",
        "failure_reason",
    ]
    assert [(r["value.m"], r["value.val_acc"], r["failure_reason"]) for r in rows] == [
        ("0.5", "", ""), ("", "0.9", "boom")
    ]  # fmt: skip


def test_a_trials_csv_of_an_earlier_version_gets_the_reason_column_on_resume(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "trials.csv").write_text(
        ",".join([*TRIAL_COLUMNS, "param.a", "value.m"]) + "\nsc1-0,0,COMPLETED,1,0,0,1.0,w,1,0.5\n"
    )
    writer = ResultsWriter(folder, CONFIG, "sc1")
    assert writer.written == {"sc1-0"} and writer.columns[-1] == "failure_reason"
    with (folder / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{**rows[0], "value.m": "0.5", "failure_reason": ""}]
