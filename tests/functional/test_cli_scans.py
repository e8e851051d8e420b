"""`scanfleet scans ...` against the real local server."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from scanfleet.cli import main
from scanfleet.client import Client, NotFoundError

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "tags": {"team": "vision"},
    "parameters": {"a": {"values": [1, 2, 3]}},
}


def test_scans_commands(
    client: Client, api: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = client.create_scan("g", GRID)
    trial = scan.next_trial()
    assert trial is not None
    trial.complete(0.5)

    assert main(["scans", "list", *api, "--tag", "team:vision"]) == 0
    assert scan.id in capsys.readouterr().out
    assert main(["scans", "show", scan.id, *api]) == 0
    assert "done 1" in capsys.readouterr().out
    assert main(["scans", "trials", scan.id, *api]) == 0
    assert "COMPLETED" in capsys.readouterr().out
    assert main(["scans", "best", scan.id, *api]) == 0
    assert json.loads(capsys.readouterr().out)["values"] == {"loss": 0.5}
    out = tmp_path / "t.csv"
    assert main(["scans", "export", scan.id, *api, "--format", "csv", "-o", str(out)]) == 0
    assert len(list(csv.DictReader(out.open()))) == 1
    out_json = tmp_path / "t.json"
    assert main(["scans", "export", scan.id, *api, "--format", "json", "-o", str(out_json)]) == 0
    assert len(json.loads(out_json.read_text())) == 1
    assert main(["scans", "extend", scan.id, *api, "--max-run", "200"]) == 0
    assert main(["scans", "cancel", scan.id, *api]) == 0
    assert "CANCELLED" in capsys.readouterr().out
    assert main(["scans", "show", "sc0000000000", *api]) == 1
    assert "scan_not_found" in capsys.readouterr().err


class Terminal(io.StringIO):
    """A stdin that is a terminal, with what the person types."""

    def isatty(self) -> bool:
        return True


def test_scans_delete_needs_yes_or_a_typed_y_and_then_the_scan_is_gone(
    client: Client,
    api: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kept, gone = client.create_scan("kept", GRID), client.create_scan("gone", GRID)
    trial = gone.next_trial()
    assert trial is not None
    trial.complete(0.5)

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no one to ask
    assert main(["scans", "delete", gone.id, *api]) == 2
    assert "cannot be undone; add --yes" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert main(["scans", "delete", gone.id, *api]) == 1
    assert "not deleted" in capsys.readouterr().out
    assert client.get_scan(gone.id).record.trial_count == 1

    assert main(["scans", "delete", gone.id, *api, "--yes"]) == 0
    assert f"deleted scan {gone.id} ('gone', RUNNING, 1 trials)" in capsys.readouterr().out
    with pytest.raises(NotFoundError):
        client.get_scan(gone.id)
    assert [s.id for s in client.list_scans()] == [kept.id]
    assert main(["scans", "delete", gone.id, *api, "--yes"]) == 1
    assert "scan_not_found" in capsys.readouterr().err

    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert main(["scans", "delete", kept.id, *api]) == 0
    assert client.list_scans() == []
