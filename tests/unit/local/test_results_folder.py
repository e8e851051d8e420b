"""A results folder holds the results of one scan: ``.scan-id`` says which; a new scan
under the same name (an edited config) gets ``<name>-<scan id>``."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.config import load_config
from scanfleet.local.results import SCAN_ID_FILE, ResultsWriter, folder_owner, results_folder

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
