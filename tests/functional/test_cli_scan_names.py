"""Every ``scans`` command takes a scan's id or its name; ``scans export`` writes to
stdout unless ``-o FILE`` names a file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from scanfleet.cli import main
from scanfleet.client import Client

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3]}},
}


def finish_one(client: Client, name: str, loss: float) -> str:
    scan = client.create_scan(name, GRID)
    trial = scan.next_trial()
    assert trial is not None
    trial.complete(loss)
    return scan.id


@pytest.mark.parametrize(
    ("command", "shows"),
    [
        (["best"], '"loss": 0.25'),
        (["show"], "best loss=0.25"),
        (["trials"], "loss=0.25"),
        (["export", "--format", "csv"], "0.25"),
        (["seeds"], "no seed runs yet"),
        (["watch", "--once"], "best loss=0.25"),
    ],
)
def test_a_scan_is_found_by_its_name(
    command: list[str],
    shows: str,
    client: Client,
    api: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    scan_id = finish_one(client, "mnist-lr", 0.25)
    code = main(["scans", command[0], "mnist-lr", *command[1:], *api])
    out = capsys.readouterr().out
    assert code in (0, 1) and shows in out, out  # seeds with none yet exits 1
    if command[0] in ("show", "watch"):
        assert scan_id in out


def test_a_name_means_the_newest_scan_of_that_name_and_says_so(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    older = finish_one(client, "twice", 0.5)
    newer = finish_one(client, "twice", 0.125)
    assert main(["scans", "best", "twice", *api]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["values"] == {"loss": 0.125}
    assert captured.err == f"note: 2 scans are named 'twice' ({newer}, {older}); using the newest\n"


def test_a_command_that_changes_a_scan_refuses_an_ambiguous_name(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    older = finish_one(client, "twice", 0.5)
    newer = finish_one(client, "twice", 0.125)
    for command in (["cancel"], ["extend", "--max-run", "9"], ["delete", "--yes"]):
        assert main(["scans", command[0], "twice", *command[1:], *api]) == 2
        err = capsys.readouterr().err
        assert err == f"error: 2 scans are named 'twice' ({newer}, {older}): pass the scan id\n"
    assert len(client.list_scans()) == 2
    assert main(["scans", "cancel", older, *api]) == 0
    assert "CANCELLED" in capsys.readouterr().out


def test_an_unknown_name_says_so(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "best", "no-such-scan", *api]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: no scan with id or name 'no-such-scan' (`scanfleet scans list` shows yours)\n"
    )


def test_a_scan_named_like_an_id_is_found_by_its_name(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    finish_one(client, "sc0123456789", 0.75)
    assert main(["scans", "best", "sc0123456789", *api]) == 0
    assert json.loads(capsys.readouterr().out)["values"] == {"loss": 0.75}


def test_export_writes_to_stdout_and_no_file(
    client: Client,
    api: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    scan_id = finish_one(client, "exported", 0.5)
    assert main(["scans", "export", scan_id, "--format", "json", *api]) == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["values"] == {"loss": 0.5}
    assert main(["scans", "export", "exported", *api]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["value.loss"] == "0.5"
    assert main(["scans", "export", "exported", "--format", "optuna-journal", *api]) == 0
    assert '"study_name"' in capsys.readouterr().out
    assert list(here.iterdir()) == []  # nothing written in the current folder

    assert main(["scans", "export", "exported", "--format", "json", "-o", "t.json", *api]) == 0
    assert capsys.readouterr().out == "t.json\n"
    assert len(json.loads((here / "t.json").read_text())) == 1


def test_worker_user_data_takes_a_scan_name(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    scan_id = finish_one(client, "on-ec2", 0.5)
    wheel = ["--wheel", "s3://assets/k.whl#sha256=" + "0" * 64]  # the stack's WorkerWheel
    assert main(["worker", "user-data", "--scan", "on-ec2", "--auth", "token", *wheel, *api]) == 0
    script = capsys.readouterr().out
    assert scan_id in script and "on-ec2" not in script
