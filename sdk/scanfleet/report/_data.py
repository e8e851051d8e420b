"""What a report, a journal export and the live view are made of: a scan, its trials and
their curves, fetched once from the API (``from_scan``) or from the service (``from_service``,
local mode), and the Optuna study rebuilt from them."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scanfleet.config import ScanConfig
from scanfleet.records import ScanRecord, TrialRecord, TrialState

if TYPE_CHECKING:
    import optuna

    from scanfleet.client import Scan
    from scanfleet.service import ScanService


@dataclass
class ScanResults:
    """A scan with every trial (by number) and the curves of its metric."""

    scan: ScanRecord
    trials: list[TrialRecord]
    curves: dict[str, dict[int, float]] = field(default_factory=dict)  # trial_id → step → value
    curve_metric: str = ""

    @classmethod
    def from_scan(cls, scan: Scan) -> ScanResults:
        """Through the API (the local server or the cloud)."""
        scan.refresh()
        metric = scan.config.metric.name
        return cls(scan.record, list(scan.iter_records()), scan.intermediate_values(metric), metric)

    @classmethod
    def from_service(cls, service: ScanService, scan_id: str, *, owner: str) -> ScanResults:
        """In process, over the store (``scanfleet local run``)."""
        scan = service.get_scan(scan_id, owner=owner)
        metric, curves = service.intermediate_values(scan_id, owner=owner)
        return cls(scan, service.list_trials(scan_id, owner=owner), curves, metric)

    @property
    def config(self) -> ScanConfig:
        return ScanConfig.model_validate(self.scan.config)

    def metric_names(self) -> list[str]:
        """The objectives, in order (``config.metrics``, else the one metric)."""
        return [m.name for m in self.config.objectives()]

    def counts(self) -> dict[TrialState, int]:
        out = dict.fromkeys(TrialState, 0)
        for trial in self.trials:
            out[trial.state] += 1
        return out

    def study(self) -> optuna.Study:
        """The in-memory Optuna study of these trials (the search's own converter), with
        the metric names set; ``study.trials[i]`` is ``self.trials[i]``."""
        import optuna

        from scanfleet.search import build_study

        study = build_study(self.config, self.trials, self.curves)
        names = self.metric_names()
        if len(names) == len(study.directions):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(names)
        return study
