"""The HTML report: drawn by a real browser from one offline file, with every plot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scanfleet.records import TrialState
from scanfleet.report import ScanResults, render_report, write_report
from scanfleet.report import _html as html_module
from scanfleet.report._html import curves_shown, figure_sections, mark_pruned

from tests.unit.report.chromium import dump_dom, screenshot
from tests.unit.report.scans import OWNER, expected_states, make_scan, service_at

TRIALS = 40
PLOTS = ["Optimisation history", "Parallel coordinates", "Parameter importances", "Slices"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> ScanResults:
    service = service_at(tmp_path_factory.mktemp("report"))
    scan_id = make_scan(service, TRIALS)
    return ScanResults.from_service(service, scan_id, owner=OWNER)


@pytest.fixture(scope="module")
def page(results: ScanResults, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(results, tmp_path_factory.mktemp("page") / "report.html")


def test_the_report_draws_every_plot_in_headless_chromium_without_script_errors(
    page: Path, tmp_path: Path
) -> None:
    dom = dump_dom(page, tmp_path / "profile")
    status = re.search(r'<div id="report-status"([^>]*)>', dom)
    assert status is not None, "the page's load handler never ran"
    attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', status.group(1)))
    assert attrs["state"] == "loaded" and attrs["errors"] == "0"
    assert re.search(r'<pre id="report-errors"></pre>', dom), "a script error was recorded"
    graphs = dom.count('class="plotly-graph-div')
    assert graphs == len(PLOTS) + 1  # + the intermediate values
    assert int(attrs["plots"]) >= graphs  # each drawn graph has its .main-svg layers
    assert dom.count('class="main-svg"') >= graphs
    shot = screenshot(page, tmp_path / "profile-shot", "report.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_is_one_file_that_loads_nothing_from_the_network(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    assert "Plotly.newPlot" in text and len(text) > 3_000_000  # plotly.js is inlined


def test_the_trial_table_has_a_sortable_row_per_trial_with_its_state(page: Path) -> None:
    text = page.read_text()
    table = text[text.index('id="trial-table"') :]
    states = re.findall(r'<tr class="state-([a-z]+)">', table)
    assert states == [s.value.lower() for s in expected_states(TRIALS)]
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", table)
    assert head is not None
    assert "<th>param.lr</th>" in head.group(1) and "<th>value.loss</th>" in head.group(1)
    assert "sortBy" in text


def test_pruned_curves_are_marked_and_the_others_are_not(results: ScanResults) -> None:
    curves = figure_sections(results)[-1]
    assert curves.figure is not None
    names = [trace.name for trace in curves.figure.data]
    pruned = [f"Trial{i} (pruned)" for i, s in enumerate(expected_states(TRIALS))
              if s is TrialState.PRUNED]  # fmt: skip
    assert sorted(n for n in names if n.endswith("(pruned)")) == sorted(pruned)
    marked = [t for t in curves.figure.data if t.name.endswith("(pruned)")]
    assert all(t.line.dash == "dot" and t.marker.symbol == "x" for t in marked)
    assert mark_pruned(curves.figure, results) == 0  # already marked: nothing matches again


def test_a_scan_without_finished_trials_gets_notes_instead_of_plots(tmp_path: Path) -> None:
    service = service_at(tmp_path)
    scan_id = make_scan(service, 1)  # one trial, back in the queue
    results = ScanResults.from_service(service, scan_id, owner=OWNER)
    sections = figure_sections(results)
    assert [s.title for s in sections][:4] == PLOTS
    assert all(s.figure is None and "needs" in s.note for s in sections[:4])
    assert sections[-1].note == "no trial reported intermediate values of loss"
    assert "<h2>Trials</h2>" in render_report(results)


def test_past_max_curves_the_best_and_the_last_pruned_curves_are_drawn(
    results: ScanResults, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html_module, "MAX_CURVES", 10)
    shown = curves_shown(results)
    pruned = [t for t in shown.trials if t.state is TrialState.PRUNED]
    others = [t for t in shown.trials if t.state is not TrialState.PRUNED]
    all_pruned = [t for t in results.trials if t.state is TrialState.PRUNED]
    assert len(shown.trials) == 10 and pruned == all_pruned[-5:]

    def last(trial_id: str) -> float:
        curve = results.curves[trial_id]
        return curve[max(curve)]

    unpruned = [t for t in results.trials if t.state is not TrialState.PRUNED
                and t.trial_id in results.curves]  # fmt: skip
    best = sorted(last(t.trial_id) for t in unpruned)[:5]
    assert sorted(last(t.trial_id) for t in others) == best
    section = figure_sections(results)[-1]
    assert section.figure is not None and len(section.figure.data) == 10
    assert "the 10 best and last pruned curves of" in section.note


def test_the_history_shows_completed_pruned_and_failed_trials_in_optunas_colours(
    results: ScanResults,
) -> None:
    history = figure_sections(results)[0]
    assert history.title == "Optimisation history" and history.figure is not None
    traces = {t.name.split(" (")[0]: t for t in history.figure.data}
    states = expected_states(TRIALS)
    for state, color in (("completed", "#1f77b4"), ("pruned", "#ff7f0e"), ("failed", "#d62728")):
        assert traces[state].marker.color == color
        assert len(traces[state].x) == sum(s.value.lower() == state for s in states)
    assert traces["failed"].marker.symbol == "x"
    assert traces["failed"].text == ("trial 6 failed: diverged",)
    assert "best loss" in traces and history.figure.layout.updatemenus == ()  # one metric


def test_every_metric_the_trials_carry_is_a_column_and_a_choice_of_the_history(
    tmp_path: Path,
) -> None:
    service = service_at(tmp_path)
    scan_id = make_scan(service, 3)
    done = service.claim_next_trial(scan_id, "w", owner=OWNER)
    assert done is not None
    service.complete(done.trial_id, {"loss": 0.3, "val_acc": 0.9}, owner=OWNER)
    results = ScanResults.from_service(service, scan_id, owner=OWNER)
    history = figure_sections(results)[0]
    assert history.figure is not None
    (menu,) = history.figure.layout.updatemenus
    assert [b.label for b in menu.buttons] == ["loss", "val_acc"]
    shown = [t.name for t, on in zip(history.figure.data, menu.buttons[1].args[0]["visible"],
                                     strict=True) if on]  # fmt: skip
    assert shown == ["completed (1)", "pruned (0)", "failed (0)"]  # no best line: no goal
    assert "<th>value.val_acc</th>" in render_report(results)


def test_the_table_says_why_a_trial_failed_and_colours_its_row(page: Path) -> None:
    text = page.read_text()
    assert "<th>failure_reason</th>" in text
    assert '<td class="reason" title="diverged">diverged</td>' in text
    assert "tr.state-pruned td { color: #ff7f0e; } tr.state-failed td { color: #d62728; }" in text
