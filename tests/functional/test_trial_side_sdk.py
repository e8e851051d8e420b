"""A training script's SDK is light: ``import scanfleet`` + ``current_trial()`` + ``report``
+ ``save_checkpoint`` + ``tag`` + ``complete`` import no pydantic, boto3 or optuna, and
still speak the full SDK's protocol to the real local server (issue 15 item 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scanfleet import names
from scanfleet.client import Client
from scanfleet.errors import LeaseLostError, TrialFinishedError
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState
from scanfleet.runtime.current import _from_environment
from scanfleet.transport.trial_calls import COMPLETED

HEAVY = ("pydantic", "boto3", "botocore", "optuna", "scanfleet.client", "scanfleet.wire")

SCRIPT = """
import json, sys
import scanfleet

trial = scanfleet.current_trial()
trial.checkpoint_dir.mkdir(parents=True, exist_ok=True)
(trial.checkpoint_dir / "weights.txt").write_text("w")
pruned = trial.report("loss", 0.5, 1)
uri = trial.save_checkpoint(1)
trial.tag(regime="light")
trial.complete(trial.params["x"] * 2)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "boto3", "botocore",
    "optuna") or m.startswith(("scanfleet.client", "scanfleet.wire", "scanfleet.records")))
print(json.dumps({"pruned": pruned, "uri": uri, "heavy": loaded}))
"""

CONFIG = {
    "strategy": "random",
    "max_run": 3,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
}


def trial_env(local_api: LocalServer, trial_id: str, params: dict, attempt: int) -> dict[str, str]:
    return {
        names.ENV_API_URL: local_api.url,
        names.ENV_TOKEN: local_api.tokens.default_token,
        names.ENV_TRIAL_ID: trial_id,
        names.ENV_PARAMS: json.dumps(params),
        names.ENV_ATTEMPT: str(attempt),
    }


def test_a_script_reports_checkpoints_tags_and_completes_without_heavy_imports(
    local_api: LocalServer, client: Client, tmp_path: Path
) -> None:
    scan = client.create_scan("light", CONFIG)
    trial = scan.next_trial("w1")
    assert trial is not None
    env = {
        **os.environ,
        **trial_env(local_api, trial.id, trial.params, trial.attempt),
        names.ENV_CHECKPOINT_URL: str(local_api.tokens.path.parent / "checkpoints"),  # its state
        names.ENV_CHECKPOINT_DIR: str(tmp_path / "work"),
    }
    env.pop(names.ENV_AUTH, None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["heavy"] == []
    assert answer["pruned"] is False
    record = client.get_trial(trial.id).record
    assert record.state is TrialState.COMPLETED
    assert record.values["loss"] == pytest.approx(trial.params["x"] * 2)
    assert record.checkpoint is not None and record.checkpoint.uri == answer["uri"]
    assert record.checkpoint.step == 1
    assert record.tags["regime"] == "light"


def test_an_attempt_whose_lease_ran_out_gets_the_sdks_error_class(
    local_api: LocalServer, client: Client
) -> None:
    scan = client.create_scan("stale", CONFIG)
    trial = scan.next_trial("w1")
    assert trial is not None
    env = trial_env(local_api, trial.id, trial.params, trial.attempt + 1)
    with pytest.raises(LeaseLostError) as raised:
        _from_environment(env, []).complete(0.1)
    assert raised.value.status == 409 and raised.value.code == "lease_lost"
    ours = _from_environment(trial_env(local_api, trial.id, trial.params, trial.attempt), [])
    ours.complete(0.2)
    with pytest.raises(TrialFinishedError):
        ours.complete(0.3)
    assert client.get_trial(trial.id).record.values["loss"] == pytest.approx(0.2)


def test_the_light_paths_state_name_is_the_records() -> None:
    assert TrialState.COMPLETED.value == COMPLETED
