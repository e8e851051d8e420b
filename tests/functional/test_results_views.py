"""Looking at a scan through the real local server: `scans report`, `scans export
--format optuna-journal`, and the live view of `scans watch`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from rich.console import Console
from scanfleet.cli import main
from scanfleet.client import Client, Scan
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState
from scanfleet.report import ScanWatcher, WatchView, render_frame, watch

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01, 0.001, 0.0001]}, "width": {"values": [8, 16]}},
}


def no_wait(seconds: float) -> None:
    pass


@pytest.fixture
def client(local_api: LocalServer) -> Client:
    return Client(url=local_api.url, token=local_api.tokens.default_token, sleep=no_wait)


@pytest.fixture
def api(local_api: LocalServer) -> list[str]:
    return ["--url", local_api.url, "--token", local_api.tokens.default_token]


@pytest.fixture
def scan(client: Client) -> Scan:
    """8 grid cells: 3 completed (by two workers), one running at step 2, one running with
    no report yet, 3 not handed out yet."""
    scan = client.create_scan("watched", GRID)
    for i, loss in enumerate((0.9, 0.4, 0.7)):
        trial = scan.next_trial(f"gpu-{i % 2}")
        assert trial is not None
        trial.report("loss", loss + 0.5, step=0)
        trial.complete(loss)
    reporting = scan.next_trial("gpu-2")
    assert reporting is not None
    for step, loss in enumerate((0.8, 0.6, 0.55)):
        reporting.report("loss", loss, step=step)
    assert scan.next_trial("gpu-3") is not None
    return scan


def frame_text(view: WatchView) -> str:
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(render_frame(view))
    return console.export_text()


def test_a_watch_frame_shows_counts_best_running_steps_workers_and_eta(scan: Scan) -> None:
    view = WatchView.fetch(scan)
    assert view.counts[TrialState.COMPLETED] == 3 and view.counts[TrialState.RUNNING] == 2
    assert view.best is not None and view.best.values == {"loss": 0.4}
    assert [t.number for t in view.running] == [3, 4]
    assert view.last_reports == {view.running[0].trial_id: (2, 0.55)}
    assert view.workers == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    assert view.median_s is not None
    assert view.eta_s() == pytest.approx(view.median_s * 3)  # 5 of 8 left, 2 at a time
    text = frame_text(view)
    assert "watched" in text and scan.id in text and "RUNNING" in text
    assert "best loss=0.4" in text
    row = next(line for line in text.splitlines() if "gpu-2" in line and "0.55" in line)
    assert " 2 " in row  # the last step
    assert "workers seen (4): gpu-0, gpu-1, gpu-2, gpu-3" in text
    assert "ETA" in text


def test_a_watcher_rereads_only_the_trials_after_the_first_unfinished_one(scan: Scan) -> None:
    watcher = ScanWatcher(scan)
    first = watcher.look()
    assert watcher.settled == 2  # trials 0-2 finished, 3 still running
    for trial in scan.trials(TrialState.RUNNING):
        trial.complete(0.3)
    later = scan.next_trial("gpu-5")
    assert later is not None
    listed: list[int] = []
    iter_records = scan.iter_records

    def spy(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for record in iter_records(*args, **kwargs):
            listed.append(record.number)
            yield record

    scan.iter_records = spy  # type: ignore[method-assign]
    second = watcher.look()
    assert listed == [3, 4, 5] and watcher.settled == 4
    assert [t.number for t in second.running] == [5]
    assert second.workers == [*first.workers, "gpu-5"]
    assert second.median_s is not None and second.counts[TrialState.COMPLETED] == 5


def test_watch_refreshes_until_the_scan_ends(scan: Scan) -> None:
    looks = []

    def finish_some(seconds: float) -> None:
        looks.append(seconds)
        for trial in scan.trials(TrialState.RUNNING):
            trial.complete(0.3)
        trial = scan.next_trial("gpu-9")
        if trial is not None:
            trial.complete(0.2)

    out = io.StringIO()
    view = watch(scan, interval=0.5, console=Console(file=out, width=160), sleep=finish_some)
    assert view.scan.status.value == "COMPLETED"
    assert view.counts[TrialState.COMPLETED] == 8 and view.running == []
    assert looks and set(looks) == {0.5}
    assert "best loss=0.2" in out.getvalue()


def test_scans_watch_once_prints_one_frame(
    scan: Scan, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "watch", scan.id, *api, "--once"]) == 0
    out = capsys.readouterr().out
    assert "running (2)" in out and "gpu-3" in out
    assert main(["scans", "watch", scan.id, *api, "--interval", "0"]) == 2
    assert "--interval must be > 0" in capsys.readouterr().err


def test_scans_report_writes_the_html_report(
    scan: Scan, api: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["scans", "report", scan.id, *api, "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    text = out.read_text()
    assert f"watched ({scan.id})" in text and text.count('class="plotly-graph-div') >= 4


def test_scans_export_optuna_journal_opens_with_optuna(
    scan: Scan, api: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "scan.log"
    assert (
        main(["scans", "export", scan.id, *api, "--format", "optuna-journal", "-o", str(out)]) == 0
    )
    storage = JournalStorage(JournalFileBackend(str(out)))
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3
    assert states.count(optuna.trial.TrialState.RUNNING) == 2
    assert study.trials[3].intermediate_values == {0: 0.8, 1: 0.6, 2: 0.55}
    assert sorted(t.value for t in study.trials if t.value is not None) == [0.4, 0.7, 0.9]


def test_a_report_of_an_unknown_scan_is_a_clear_error(
    api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "report", "sc0000000000", *api]) == 1
    assert "scan_not_found" in capsys.readouterr().err


def test_failures_reach_the_watch_panel_and_scans_trials_with_their_reason(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    scan = client.create_scan("failing", GRID)
    crash = "exit code 1; last output:\nTraceback (most recent call last):\nZeroDivisionError: x"
    for i in range(3):
        trial = scan.next_trial(f"gpu-{i}")
        assert trial is not None
        if i == 1:
            trial.complete(0.5)
        else:
            trial.fail(crash if i == 0 else "metric loss is nan", retry=False)
    view = WatchView.fetch(scan)
    assert [t.number for t in view.failures] == [2, 0]  # the latest first
    text = frame_text(view)
    assert "last failures (2 of 2)" in text
    assert "exit code 1; last output: ... ZeroDivisionError: x" in text
    assert "metric loss is nan" in text
    assert main(["scans", "trials", scan.id, *api]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("reason: exit code 1; last output: ... ZeroDivisionError: x")
    assert "reason" not in lines[1] and lines[2].endswith("reason: metric loss is nan")
