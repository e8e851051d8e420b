"""What `scanfleet local run` derives from its options: each worker's GPUs, the scan name."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.local.run import default_scan_name, worker_gpus
from scanfleet.runtime.slots import SlotError


@pytest.mark.parametrize(
    ("spec", "workers", "per_trial", "expected"),
    [
        (None, 3, 1, [None, None, None]),  # no --gpus: the environment's GPUs, as before
        ("2", 1, 1, ["0,1"]),  # one worker, two 1-GPU slots: two trials at once
        ("4", 2, 1, ["0,2", "1,3"]),  # slots dealt out in turn
        ("4", 4, 2, ["0,1", "2,3"]),  # only as many workers as slots
        ("1,3,5", 4, 2, ["1,3"]),  # a spare GPU stays idle
        ("0,1", 2, 0, ["0,1", "0,1"]),  # CPU-only: every worker hides the GPUs
    ],
)
def test_the_gpus_are_split_into_whole_slots_across_the_workers(
    spec: str | None, workers: int, per_trial: int, expected: list[str | None]
) -> None:
    assert worker_gpus(spec, workers, per_trial, {}) == expected


def test_a_count_takes_the_visible_devices_and_too_few_gpus_are_refused() -> None:
    assert worker_gpus("2", 2, 1, {"CUDA_VISIBLE_DEVICES": "4,6,7"}) == ["4", "6"]
    with pytest.raises(SlotError, match="each trial of this scan needs 2 GPU"):
        worker_gpus("1", 4, 2, {})


def test_each_config_of_a_folder_makes_its_own_scan(tmp_path: Path) -> None:
    assert default_scan_name(tmp_path / "reuse" / "scan.yaml") == "reuse"
    assert default_scan_name(tmp_path / "reuse" / "wider.yaml") == "reuse-wider"
