"""With no API URL, the ``scans`` commands read the local state of ``scanfleet local run``
through an API served from the CLI's own process."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet import names
from scanfleet.cli import main
from scanfleet.local.auth import TokenStore, owner_id
from scanfleet.local.server import open_local_service

CONFIG = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2]}},
}


def test_scans_commands_read_the_local_state_when_no_api_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(names.ENV_API_URL, raising=False)
    service = open_local_service(tmp_path / "state")
    owner = owner_id(TokenStore(tmp_path / "state").default_token)
    scan, _ = service.create_scan("here", CONFIG, owner=owner)
    trial = service.claim_next_trial(scan.scan_id, "w", owner=owner)
    assert trial is not None
    service.complete(trial.trial_id, 0.5, owner=owner)

    assert main(["scans", "list", "--state", str(tmp_path / "state")]) == 0
    assert scan.scan_id in capsys.readouterr().out
    assert main(["scans", "best", scan.scan_id, "--state", str(tmp_path / "state")]) == 0
    assert '"x": ' + str(trial.params["x"]) in capsys.readouterr().out


def test_with_no_api_and_no_local_state_the_error_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(names.ENV_API_URL, raising=False)
    assert main(["scans", "list", "--state", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "--url" in err and names.ENV_API_URL in err and "local run" in err
    assert "Traceback" not in err
