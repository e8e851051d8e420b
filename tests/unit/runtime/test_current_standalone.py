"""A training script run by hand (no worker): its checkpoint folder exists when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.runtime.current import _from_environment


def test_run_by_hand_checkpoint_dir_is_created_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    trial = _from_environment({}, ["--lr=0.1"])
    assert not (tmp_path / "checkpoints").exists()  # nothing made until a script asks
    assert trial.checkpoint_dir == tmp_path / "checkpoints" and trial.checkpoint_dir.is_dir()
    (trial.checkpoint_dir / "model.pt").write_text("weights")  # what a script then does


def test_under_a_worker_the_checkpoint_dir_is_the_workers(tmp_path: Path) -> None:
    trial = _from_environment({"SCANFLEET_CHECKPOINT_DIR": str(tmp_path / "w")}, [])
    assert trial.checkpoint_dir == tmp_path / "w"
