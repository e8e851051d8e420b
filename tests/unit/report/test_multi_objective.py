"""A scan with several metrics: the report leads with the Pareto front, and the journal
keeps every value of every trial."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from scanfleet.records import TrialState
from scanfleet.report import ScanResults, study_name, write_journal
from scanfleet.report._html import figure_sections

from tests.unit.report.scans import CONFIG, OWNER, loss_at, service_at

TWO_METRICS = {
    **CONFIG,
    "metrics": [{"name": "loss", "goal": "minimize"}, {"name": "latency", "goal": "minimize"}],
}


def two_metric_scan(folder: Path, trials: int = 12) -> ScanResults:
    """Completed trials trading loss for latency; every fourth one pruned."""
    service = service_at(folder)
    scan, _ = service.create_scan("pareto", TWO_METRICS, owner=OWNER)
    for i in range(trials):
        trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
        assert trial is not None
        service.report(trial.trial_id, "loss", 0, loss_at(trial.params, 0), owner=OWNER)
        if i % 4 == 3:
            service.prune(trial.trial_id, owner=OWNER)
            continue
        latency = 10.0 * int(trial.params["layers"]) + float(trial.params["dropout"])
        values = {"loss": loss_at(trial.params, 4), "latency": latency}
        service.complete(trial.trial_id, values, owner=OWNER)
    return ScanResults.from_service(service, scan.scan_id, owner=OWNER)


def test_the_report_of_a_two_metric_scan_starts_with_its_pareto_front(tmp_path: Path) -> None:
    results = two_metric_scan(tmp_path)
    assert results.metric_names() == ["loss", "latency"]
    sections = figure_sections(results)
    assert [s.title for s in sections][:2] == ["Pareto front", "Optimisation history"]
    pareto = sections[0].figure
    assert pareto is not None
    drawn = sum(len(trace.x) for trace in pareto.data if trace.x is not None)
    assert drawn == 9  # the completed trials, on and off the front
    assert pareto.layout.xaxis.title.text == "loss" and pareto.layout.yaxis.title.text == "latency"
    assert all(s.figure is not None for s in sections), [s.note for s in sections]


def test_the_journal_of_a_two_metric_scan_keeps_both_values(tmp_path: Path) -> None:
    results = two_metric_scan(tmp_path)
    path = write_journal(results, tmp_path / "scan.log")
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.load_study(study_name=study_name(results), storage=storage)
    assert study.metric_names == ["loss", "latency"] and len(study.directions) == 2
    for got, want in zip(study.trials, results.trials, strict=True):
        if want.state is TrialState.COMPLETED:
            assert got.values == [want.values["loss"], want.values["latency"]]
        else:
            assert got.state is optuna.trial.TrialState.PRUNED and got.values is None
