"""A diverged run, through the real local server: NaN and ±inf reported as intermediate
values are stored, served as the strings "NaN", "Infinity", "-Infinity", read back as floats
by the SDK, and every reader (SDK pages, HTML report, CSV/JSON export, Optuna journal, the
watch view) handles them; a final metric that is NaN fails the trial."""

from __future__ import annotations

import csv
import io
import json
import math
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from rich.console import Console
from scanfleet.cli import main
from scanfleet.client import Client, Scan
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState, decode_metric_value, encode_metric_value
from scanfleet.report import ScanResults, WatchView, render_frame

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3, 4]}},
}
CURVE = [1.0, math.nan, math.inf, -math.inf]


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
    """Trial 0 reports 1, NaN, inf, -inf and is pruned (its value: -inf); trial 1
    completes at 0.5; trial 2 reports NaN and is still running."""
    scan = client.create_scan("diverged", GRID)
    diverged = scan.next_trial("w0")
    assert diverged is not None
    for step, value in enumerate(CURVE):
        diverged.report("loss", value, step=step)
    diverged.prune()
    fine = scan.next_trial("w1")
    assert fine is not None
    fine.report("loss", 0.7, step=0)
    fine.complete(0.5)
    running = scan.next_trial("w2")
    assert running is not None
    running.report("loss", math.nan, step=0)
    return scan


def _same(values: list[float], expected: list[float]) -> bool:
    pairs = zip(values, expected, strict=True)
    return all((math.isnan(a) and math.isnan(b)) or a == b for a, b in pairs)


def test_the_encoding_round_trips_every_float() -> None:
    for value in [*CURVE, 0.0, -0.0, 1e308]:
        encoded = encode_metric_value(value)
        assert json.loads(json.dumps(encoded, allow_nan=False)) == encoded  # strict JSON
        assert _same([decode_metric_value(encoded)], [value])
    assert encode_metric_value(math.nan) == "NaN"
    assert encode_metric_value(-math.inf) == "-Infinity"


def test_the_api_serves_non_finite_values_as_strings_in_strict_json(
    local_api: LocalServer, scan: Scan
) -> None:
    request = urllib.request.Request(
        f"{local_api.url}/scans/{scan.id}/intermediate-values",
        headers={"Authorization": f"Bearer {local_api.tokens.default_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    page = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    first = page["trials"][scan.trials()[0].id]
    assert first == {"0": 1.0, "1": "NaN", "2": "Infinity", "3": "-Infinity"}
    with urllib.request.urlopen(
        urllib.request.Request(
            f"{local_api.url}/trials/{scan.trials()[0].id}", headers=request.headers
        ),
        timeout=30,
    ) as answer:
        assert json.loads(answer.read())["values"] == {"loss": "-Infinity"}


def test_the_sdk_reads_the_curves_and_records_back_as_floats(scan: Scan) -> None:
    trials = scan.trials()
    curves = scan.intermediate_values()
    assert _same(list(curves[trials[0].id].values()), CURVE)
    assert math.isnan(curves[trials[2].id][0])
    assert trials[0].state is TrialState.PRUNED and trials[0].values == {"loss": -math.inf}
    assert scan.best_trial() is not None and scan.best_trial().values == {"loss": 0.5}  # type: ignore[union-attr]


def test_a_final_metric_that_is_nan_fails_the_trial_for_good(scan: Scan) -> None:
    running = scan.trials(TrialState.RUNNING)[0]
    finished = running.complete(math.nan)
    assert finished.state is TrialState.FAILED
    assert finished.record.failure_reason == "metric loss is nan"
    assert running.refresh().state is TrialState.FAILED  # for good: not re-queued


def test_scans_report_writes_the_html_report(
    api: list[str], scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["scans", "report", scan.id, "-o", str(out), *api]) == 0
    html = out.read_text()
    assert "diverged" in html and "plotly" in html.lower()


def test_the_optuna_journal_export_loads_in_optuna(
    api: list[str], scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "journal.log"
    code = main(["scans", "export", scan.id, "--format", "optuna-journal", "-o", str(out), *api])
    assert code == 0
    storage = JournalStorage(JournalFileBackend(str(out)))
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    pruned = study.trials[0]
    assert pruned.state is optuna.trial.TrialState.PRUNED
    assert _same([pruned.intermediate_values[s] for s in range(4)], CURVE)


@pytest.mark.parametrize("format", ["csv", "json"])
def test_the_csv_and_json_exports_carry_the_values(
    api: list[str], scan: Scan, format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "export", scan.id, "--format", format, *api]) == 0
    text = capsys.readouterr().out
    if format == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["state"] for r in rows][:2] == ["PRUNED", "COMPLETED"]
        assert float(rows[0]["value.loss"]) == -math.inf
    else:
        records = json.loads(text)
        assert records[0]["values"] == {"loss": "-Infinity"}


def test_scans_trials_and_the_watch_view_show_the_scan(
    api: list[str], scan: Scan, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "trials", scan.id, *api]) == 0
    assert "PRUNED" in capsys.readouterr().out
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(render_frame(WatchView.fetch(scan)))
    text = console.export_text()
    assert "diverged" in text and "best loss=0.5" in text


def test_the_results_of_the_scan_build_an_optuna_study(scan: Scan) -> None:
    study = ScanResults.from_scan(scan).study()
    assert _same([study.trials[0].intermediate_values[s] for s in range(4)], CURVE)
