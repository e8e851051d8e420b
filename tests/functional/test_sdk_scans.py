"""Scans through the SDK against the real local server: create, find, typed errors,
cancel, extend, wait."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scanfleet.client import (
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    NotFoundError,
    Scan,
    ScanFinishedError,
)
from scanfleet.config import ConfigError, ScanConfig
from scanfleet.local.server import LocalServer
from scanfleet.records import ScanStatus, TrialState

GRID = {
    "strategy": "grid",
    "execution": {"type": "manual"},
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "batch_size": {"values": [2, 4, 8]},
        "learning_rate": {"values": [1e-3, 1e-4, 1e-5]},
    },
}


def finish_all(scan: Scan) -> None:
    for trial in scan.work():
        trial.complete(trial.params["batch_size"] * trial.params["learning_rate"])


def test_a_created_scan_is_running_and_can_be_found(client: Client) -> None:
    scan = client.create_scan("first", {**GRID, "tags": {"team": "vision"}})
    assert scan.status is ScanStatus.RUNNING and scan.name == "first"
    assert scan.id.startswith("sc") and scan.planned_trials == 9
    assert isinstance(scan.config, ScanConfig) and scan.config.metric.name == "loss"
    again = client.get_scan(scan.id)
    assert again.id == scan.id and again.counts.get(TrialState.QUEUED, 0) == 0
    assert [s.id for s in client.list_scans()] == [scan.id]
    assert [s.id for s in client.list_scans(tag="team:vision")] == [scan.id]
    assert client.list_scans(tag="team:audio") == []
    assert [s.id for s in client.list_scans(status=ScanStatus.RUNNING)] == [scan.id]
    assert client.list_scans(status="COMPLETED") == []


def test_configs_are_accepted_as_yaml_files_json_text_and_models(
    client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "scan.yaml"
    path.write_text(
        "strategy: grid\nexecution: {type: manual}\nmetric: {name: loss}\n"
        "parameters:\n  lr: {values: [0.1, 0.01]}\n"
    )
    from_yaml = client.create_scan("yaml", path)
    from_json = client.create_scan("json", json.dumps(GRID))
    from_model = client.create_scan("model", ScanConfig.model_validate(GRID))
    assert from_yaml.planned_trials == 2
    assert from_json.config == from_model.config == ScanConfig.model_validate(GRID)


def test_an_invalid_config_names_its_field_and_creates_nothing(client: Client) -> None:
    bad = {**GRID, "parameters": {"lr": {"distribution": "uniform", "min": 1, "max": 0}}}
    with pytest.raises(ConfigError) as caught:
        client.create_scan("bad", bad)
    assert caught.value.problems[0].path.startswith("parameters.lr")
    assert client.list_scans() == []


def test_errors_are_typed_by_status_with_the_servers_code(
    client: Client, local_api: LocalServer
) -> None:
    with pytest.raises(NotFoundError) as missing:  # 404
        client.get_scan("sc0000000000")
    assert missing.value.error_code == "scan_not_found" and missing.value.status_code == 404
    with pytest.raises(NotFoundError) as no_trial:
        client.get_trial("sc0000000000-0123456789abcdef")
    assert no_trial.value.error_code == "trial_not_found"

    with pytest.raises(AuthenticationError) as wrong:  # 401
        Client(url=local_api.url, token="sf_wrong").list_scans()
    assert wrong.value.status_code == 401 and wrong.value.error_code == "unauthorized"

    scan = client.create_scan("errors", GRID)
    trial = scan.next_trial()
    assert trial is not None
    with pytest.raises(BadRequestError) as bad:  # 400
        trial.complete({})
    assert bad.value.error_code == "invalid_values" and "loss" in bad.value.api_message

    trial.complete(0.5)
    with pytest.raises(ConflictError) as finished:  # 409
        trial.complete(0.4)
    assert finished.value.error_code == "trial_finished"

    scan.cancel()
    with pytest.raises(ScanFinishedError) as gone:  # 410
        scan.next_trial()
    assert gone.value.status_code == 410 and gone.value.error_code == "scan_finished"


def test_a_scan_of_another_identity_is_not_found(client: Client, local_api: LocalServer) -> None:
    scan = client.create_scan("mine", GRID)
    other = Client(url=local_api.url, token=local_api.tokens.create_token())
    with pytest.raises(NotFoundError):
        other.get_scan(scan.id)
    assert other.list_scans() == []


def test_cancel_fails_unfinished_trials_and_is_harmless_twice(client: Client) -> None:
    scan = client.create_scan("stop", GRID)
    running = scan.next_trial("w1")
    assert running is not None
    assert scan.cancel().status is ScanStatus.CANCELLED
    assert scan.cancel().status is ScanStatus.CANCELLED
    assert running.refresh().state is TrialState.FAILED
    with pytest.raises(ConflictError) as caught:
        running.heartbeat()
    assert caught.value.error_code == "trial_finished"


def test_extend_lets_a_completed_scan_run_more_trials(client: Client) -> None:
    scan = client.create_scan("short", {**GRID, "max_run": 4})
    finish_all(scan)
    assert scan.refresh().status is ScanStatus.COMPLETED and scan.counts[TrialState.COMPLETED] == 4
    scan.extend(9)
    assert scan.status is ScanStatus.RUNNING and scan.record.max_run == 9
    finish_all(scan)
    assert scan.refresh().counts[TrialState.COMPLETED] == 9


def test_wait_returns_a_finished_scan_and_prints_progress(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = client.create_scan("waited", GRID)
    finish_all(scan)
    assert scan.wait(progress=True, poll=0).status is ScanStatus.COMPLETED
    err = capsys.readouterr().err
    assert "waited" in err and "[COMPLETED]" in err and "done 9/9" in err
    assert "best loss=2e-05" in err


def test_wait_gives_up_after_its_timeout(client: Client) -> None:
    scan = client.create_scan("stuck", GRID)
    with pytest.raises(TimeoutError, match=scan.id):
        scan.wait(poll=0.01, timeout=0.05)
