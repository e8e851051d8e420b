"""``current_trial()``'s checkpoints and "checkpoint now", against the real local API."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from scanfleet import names
from scanfleet.artifacts import checkpoint_store
from scanfleet.client import Client
from scanfleet.runtime.current import CurrentTrial, _from_environment

CONFIG = {
    "strategy": "grid",
    "command": "python t.py",
    "metric": {"name": "loss"},
    "parameters": {"a": {"values": [1]}},
}


def store_of(local_api: Any) -> Path:
    """Where the server accepts checkpoints: its state dir's ``checkpoints``."""
    return Path(local_api.tokens.path.parent) / "checkpoints"


def attached_trial(local_api: Any, tmp_path: Path) -> tuple[CurrentTrial, Any]:
    client = Client(url=local_api.url, token=local_api.tokens.default_token)
    claimed = client.create_scan("ckpt", CONFIG).next_trial("w1")
    assert claimed is not None
    env = {
        names.ENV_API_URL: local_api.url,
        names.ENV_TOKEN: local_api.tokens.default_token,
        names.ENV_TRIAL_ID: claimed.id,
        names.ENV_PARAMS: json.dumps(claimed.params),
        names.ENV_ATTEMPT: str(claimed.attempt),
        names.ENV_WORKER_ID: "w1",
        names.ENV_CHECKPOINT_DIR: str(tmp_path / "work"),
        names.ENV_CHECKPOINT_URL: str(store_of(local_api)),
        names.ENV_CHECKPOINT_NOW_FILE: str(tmp_path / "now.json"),
        names.ENV_RESULT_FILE: str(tmp_path / "result.json"),
    }
    return _from_environment(env, []), claimed


def results(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "result.json").read_text())


def test_save_checkpoint_uploads_records_and_keeps_only_the_latest(
    local_api: Any, tmp_path: Path
) -> None:
    trial, claimed = attached_trial(local_api, tmp_path)
    trial.checkpoint_dir.mkdir(parents=True)
    for step in (5, 10):
        (trial.checkpoint_dir / "w.txt").write_text(str(step))
        uri = trial.save_checkpoint(step)
    assert uri is not None
    record = claimed.refresh().checkpoint_record
    assert record is not None and (record.step, record.uri) == (10, uri)
    steps = sorted(p.name for p in store_of(local_api).rglob("step-*"))
    assert steps == ["step-0000000010-a1"]
    checkpoint_store(uri).download(uri, tmp_path / "back")
    assert (tmp_path / "back" / "w.txt").read_text() == "10"
    assert results(tmp_path)["checkpoint_step"] == 10


def test_a_request_is_seen_once_answered_by_a_checkpoint_and_heard_by_the_callback(
    local_api: Any, tmp_path: Path
) -> None:
    trial, _ = attached_trial(local_api, tmp_path)
    heard = threading.Event()
    trial.on_checkpoint_request(heard.set)
    assert not trial.checkpoint_requested
    assert results(tmp_path)["listening"] is True  # the worker will wait for this script
    (tmp_path / "now.json").write_text(json.dumps({"id": 1, "reason": "spot"}))
    assert trial.checkpoint_requested
    assert heard.wait(5)
    trial.save_checkpoint(3)
    assert not trial.checkpoint_requested
    assert results(tmp_path)["answered_request"] == 1


def test_by_hand_there_is_no_request_and_nothing_is_uploaded(tmp_path: Path) -> None:
    trial = _from_environment({}, ["--lr=0.1"])
    assert trial.params == {"lr": 0.1} and not trial.attached
    assert not trial.checkpoint_requested
    assert trial.save_checkpoint(4) is None and trial.checkpoint_step == 4


def test_the_stop_step_comes_from_the_environment_and_is_none_outside_pbt() -> None:
    assert _from_environment({names.ENV_STOP_STEP: "15"}, []).stop_step == 15
    assert _from_environment({names.ENV_STOP_STEP: "0"}, []).stop_step == 0
    assert _from_environment({}, ["--lr=0.1"]).stop_step is None
