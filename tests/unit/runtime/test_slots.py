"""GPU slots: which devices a worker may use, how they split into disjoint slots, and the
exit code of several agents."""

from __future__ import annotations

import pytest
from scanfleet import names
from scanfleet.runtime.slots import SlotError, combined_exit_code, gpu_devices, partition


def test_a_count_takes_the_first_visible_devices_or_numbers_them() -> None:
    assert gpu_devices("2", {}) == ["0", "1"]
    assert gpu_devices("2", {"CUDA_VISIBLE_DEVICES": "3,5,7"}) == ["3", "5"]
    assert gpu_devices("1,3", {}) == ["1", "3"]
    with pytest.raises(SlotError, match="only 1 visible"):
        gpu_devices("2", {"CUDA_VISIBLE_DEVICES": "4"})
    with pytest.raises(SlotError, match="distinct device ids"):
        gpu_devices("1,1", {})


def test_slots_are_disjoint_and_spare_devices_stay_idle() -> None:
    assert partition(["0", "1"], 1) == [["0"], ["1"]]
    assert partition(["0", "1", "2"], 2) == [["0", "1"]]
    assert partition(["0", "1", "2", "3"], 2) == [["0", "1"], ["2", "3"]]
    assert partition(["0", "1"], 0) == [[]]  # CPU-only trials: one at a time, no GPU
    with pytest.raises(SlotError, match="needs 3 GPU"):
        partition(["0", "1"], 3)


def test_the_pool_exit_code_is_the_most_telling_one() -> None:
    ok, failed, stopped = (
        names.ExitCode.OK,
        names.ExitCode.SCRIPT_FAILED,
        names.ExitCode.INTERRUPTED,
    )
    assert combined_exit_code([ok, ok]) == ok
    assert combined_exit_code([ok, failed]) == failed
    assert combined_exit_code([failed, stopped, ok]) == stopped
