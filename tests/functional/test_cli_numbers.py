"""A float shown to a person has 6 significant digits: the live table of ``scans watch``,
``scans show`` and ``scans trials``, the header of the HTML report (files keep every
digit: ``scans export``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scanfleet.cli import main
from scanfleet.client import Client

SPACE = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.00123456789012345, 0.1]}, "layers": {"value": 3}},
}
LOSS = 0.123456789012345


def too_precise(text: str) -> list[str]:
    """The decimal numbers in ``text`` with more than 6 significant digits."""
    numbers = re.findall(r"\d+\.\d+", text)
    return [n for n in numbers if len(n.replace(".", "").lstrip("0")) > 6]


@pytest.fixture
def scan_id(client: Client) -> str:
    scan = client.create_scan("digits", SPACE)
    trial = scan.next_trial()
    assert trial is not None and trial.params["lr"] == 0.00123456789012345
    trial.report("loss", 2 / 3, step=0)
    trial.complete(LOSS)
    running = scan.next_trial()
    assert running is not None
    running.report("loss", 1 / 3, step=1)
    return scan.id


def test_watch_show_and_trials_print_6_significant_digits(
    scan_id: str, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "watch", scan_id, "--once", *api]) == 0
    frame = capsys.readouterr().out
    assert "best loss=0.123457  trial 0  lr=0.00123457, layers=3" in frame
    assert "0.333333" in frame  # the running trial's last value
    assert main(["scans", "show", scan_id, *api]) == 0
    assert "best loss=0.123457" in capsys.readouterr().out
    assert main(["scans", "trials", scan_id, *api]) == 0
    trials = capsys.readouterr().out
    assert "loss=0.123457" in trials and "lr=0.00123457, layers=3" in trials
    assert too_precise(frame) == [] and too_precise(trials) == []


def test_the_report_header_prints_6_significant_digits(
    scan_id: str, api: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("plotly")
    out = tmp_path / "r.html"
    assert main(["scans", "report", scan_id, "-o", str(out), *api]) == 0
    page = out.read_text()
    header = page[page.index('<table class="facts">') : page.index("</table>")]
    assert "trial 0: loss=0.123457 lr=0.00123457, layers=3" in header
    assert too_precise(header) == []


def test_exports_keep_every_digit(
    scan_id: str, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "export", scan_id, "--format", "json", *api]) == 0
    finished = [r for r in json.loads(capsys.readouterr().out) if r["state"] == "COMPLETED"]
    assert finished[0]["values"] == {"loss": LOSS}


def test_seeds_print_the_best_parameters_in_6_significant_digits(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    space = {**SPACE, "parameters": {"lr": {"values": [0.00123456789012345]}}}
    scan = client.create_scan("seeded", space)
    for trial in scan.work(poll=0.01):
        trial.complete(LOSS)
    assert main(["scans", "seeds", "seeded", "--n", "2", *api]) == 0
    capsys.readouterr()
    for trial in scan.work(poll=0.01):
        trial.complete(LOSS)
    assert main(["scans", "seeds", "seeded", *api]) == 0
    out = capsys.readouterr().out
    assert "2/2 finished; params lr=0.00123457" in out and too_precise(out) == []
