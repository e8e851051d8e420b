"""The pruning decision a report gets, from the reporting trial's own curve and the
scan's pruning inputs this process keeps (``scanfleet.search.LivePruning``), caught up
from the trials changed since the last report (``trials_changed_since``), as a claim
catches up the live study. A report's reads do not grow with the scan: the trial's curve,
the changes since the last report (and the curves of the trials that finished since),
and for the halving pruners the curves of the other unfinished trials (one per busy
worker). A process's first report of a scan reads every finished trial's curve once.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from scanfleet.config import ScanConfig
from scanfleet.records import PruneDecision, ScanRecord, TrialRecord
from scanfleet.service._context import ServiceContext

READ_WHOLE_SCAN_OVER = 20  # catching up with more finished trials: one query of every curve


@dataclass
class PruningEntry:
    """A scan's pruning inputs (``LivePruning``, typed loosely: naming it imports optuna),
    the config they were built for and the change sequence they are caught up to."""

    config: str
    inputs: Any = None
    seq: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class PruneDecisions:
    """Every scan's pruning inputs in this process (one lock per scan)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.entries: dict[str, PruningEntry] = {}
        self._lock = threading.Lock()

    def decide(
        self, scan: ScanRecord, config: ScanConfig, trial: TrialRecord, step: int
    ) -> PruneDecision:
        """Prune or continue ``trial`` at ``step`` (a value of the scan's metric was just
        stored for it), and why: the decision Optuna's pruner takes over every trial."""
        from scanfleet.search import LivePruning  # lazily: pruning imports optuna

        store, scan_id, metric = self.ctx.store, scan.scan_id, config.metric.name

        def curves(ids: Collection[str]) -> Mapping[str, Mapping[int, float]]:
            return store.intermediate_values(scan_id, metric, trial_ids=ids)

        own = curves([trial.trial_id]).get(trial.trial_id, {})
        entry = self._entry(scan)
        with entry.lock:
            if entry.inputs is None:
                entry.inputs = LivePruning(config)
            cold = entry.seq is None
            changes = store.trials_changed_since(scan_id, entry.seq)

            def finished(ids: Collection[str]) -> Mapping[str, Mapping[int, float]]:
                if cold and len(ids) > READ_WHOLE_SCAN_OVER:
                    return store.intermediate_values(scan_id, metric)
                return curves(ids)

            entry.inputs.catch_up(changes.trials, finished)
            entry.seq = changes.seq
            decision: PruneDecision = entry.inputs.decide(trial, step, own, curves)
            return decision

    def forget(self, scan_id: str) -> None:
        with self._lock:
            self.entries.pop(scan_id, None)

    def _entry(self, scan: ScanRecord) -> PruningEntry:
        """The scan's entry (a changed config starts an empty one)."""
        with self._lock:
            entry = self.entries.get(scan.scan_id)
            if entry is None or entry.config != str(scan.config):
                entry = PruningEntry(config=str(scan.config))
                self.entries[scan.scan_id] = entry
            return entry
