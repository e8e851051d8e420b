"""Pruning decisions, made when a worker reports, from what the decision needs: the
reporting trial's own curve and the scan's statistics kept incrementally.

``LivePruning`` is a scan's pruning inputs in the API process (as ``LiveStudy`` is its
study): caught up from the trials changed since its last call (``trials_changed_since``),
it folds each trial's curve in once, when the trial is finished (a finished trial's curve
never changes). What each pruner reads, and so what a report costs besides its own curve:

- **median** (Optuna's ``MedianPruner``): the number of COMPLETE trials and, at the step
  decided, their values: kept per step. Nothing more is read.
- **successive halving / Hyperband**: the rung values of every other trial (its value at
  the first step reported at or past each rung's promotion step, as the study would have
  recorded them): those of finished trials kept; those of unfinished trials (running or
  back in the queue, one per busy worker) read fresh, for Hyperband only in the reporting
  trial's bracket.

Each decision equals the one Optuna's pruner takes over a study rebuilt from every stored
trial and curve (``tests/unit/service/test_pruning_inputs.py`` keeps that full-read
decision as the reference and compares both over random report sequences).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from types import SimpleNamespace
from typing import Any

import optuna
from optuna.pruners._percentile import (
    _get_best_intermediate_result_over_steps,
    _get_percentile_intermediate_result_over_trials,
    _is_first_in_interval_step,
)
from optuna.pruners._successive_halving import (
    _completed_rung_key,
    _is_trial_promotable_to_next_rung,
)
from optuna.study import StudyDirection

from scanfleet.config import ScanConfig
from scanfleet.records import PruneDecision, TrialRecord, TrialState
from scanfleet.search._optuna import STUDY_NAME

Curve = Mapping[int, float]
CurveReader = Callable[[Collection[str] | None], Mapping[str, Curve]]


def make_pruner(config: ScanConfig) -> tuple[optuna.pruners.BasePruner, str]:
    es = config.early_stopping
    if es is None:
        return optuna.pruners.NopPruner(), "none"
    if es.hyperband is not None:
        hb = es.hyperband
        pruner: optuna.pruners.BasePruner = optuna.pruners.HyperbandPruner(
            min_resource=hb.min_iter, max_resource=hb.max_iter, reduction_factor=hb.reduction_factor
        )
        return pruner, "hyperband"
    if es.successive_halving is not None:
        sh = es.successive_halving
        return (
            optuna.pruners.SuccessiveHalvingPruner(
                min_resource=sh.min_iter, reduction_factor=sh.reduction_factor
            ),
            "successive halving",
        )
    assert es.median is not None
    md = es.median
    return (
        optuna.pruners.MedianPruner(
            n_startup_trials=md.n_startup_trials,
            n_warmup_steps=md.n_warmup_steps,
            interval_steps=md.interval_steps,
        ),
        "median",
    )


def rung_values(
    pruner: optuna.pruners.BasePruner, curve: Curve, *, before: int | None = None
) -> dict[str, float]:
    """The rung values successive halving would have recorded on a trial: its value at
    the first reported step at or past each rung's promotion step (only the steps below
    ``before`` when given: the reporting trial's rungs passed before this step)."""
    min_resource = getattr(pruner, "_min_resource", None)
    factor = getattr(pruner, "_reduction_factor", None)
    if not isinstance(min_resource, int) or not isinstance(factor, int):
        return {}
    steps = sorted(s for s in curve if before is None or s < before)
    attrs: dict[str, float] = {}
    rung = 0
    while True:
        promotion = min_resource * factor**rung
        reached = next((s for s in steps if s >= promotion), None)
        if reached is None:
            return attrs
        attrs[_completed_rung_key(rung)] = curve[reached]
        rung += 1


class LivePruning:
    """A scan's pruning inputs, kept in step with its trials (see the module docstring).
    Not thread-safe: a caller holds a lock across catching up and deciding."""

    def __init__(self, config: ScanConfig) -> None:
        self.config = config
        self.pruner, self.kind = make_pruner(config)
        goal = config.metric.goal.value
        self.direction = StudyDirection.MAXIMIZE if goal == "maximize" else StudyDirection.MINIMIZE
        self._numbers: dict[str, int] = {}  # every trial known: id -> number
        self._unfinished: set[str] = set()
        self._finished: set[str] = set()  # folded in: their curves never change
        self._completed = 0  # COMPLETE trials (a COMPLETED trial without its metric is FAIL)
        self._at_step: dict[int, dict[int, float]] = {}  # median: step -> {number: value}
        self._rungs: dict[str, dict[str, float]] = {}  # halving: finished trials' rung values
        self._brackets: dict[int, int] = {}  # Hyperband: number -> bracket
        if isinstance(self.pruner, optuna.pruners.HyperbandPruner):
            self.pruner._try_initialization(None)  # type: ignore[arg-type]  # ints: no study read

    def catch_up(self, trials: Iterable[TrialRecord], read_curves: CurveReader) -> None:
        """Take the trials changed since the last call; the curves of those newly finished
        (only the COMPLETE ones for the median pruner) are read once, by ``read_curves``
        (given their ids), and folded in."""
        newly: list[TrialRecord] = []
        for trial in trials:
            if trial.trial_id in self._finished:
                continue
            self._numbers[trial.trial_id] = trial.number
            if trial.state.is_finished():
                newly.append(trial)
            else:
                self._unfinished.add(trial.trial_id)
        wanted = [t.trial_id for t in newly if self.kind != "median" or self._complete(t)]
        curves = read_curves(wanted) if wanted else {}
        for trial in newly:
            self._fold(trial, curves.get(trial.trial_id, {}))

    def decide(
        self, trial: TrialRecord, step: int, curve: Curve, read_curves: CurveReader
    ) -> PruneDecision:
        """Prune or continue ``trial`` (its own ``curve`` read just now) at ``step``, and
        why. ``read_curves``: the curves of other unfinished trials (halving pruners)."""
        if step not in curve:
            return PruneDecision(step=step, prune=False, reason="no value reported at this step")
        self._numbers[trial.trial_id] = trial.number
        if self.kind == "median":
            prune = self._median_prunes(curve)
            reason = self._median_reason(prune, curve[step], step)
            return PruneDecision(step=step, prune=prune, reason=reason)
        prune = self._halving_prunes(trial, step, curve, read_curves)
        verdict = "prune" if prune else "continue"
        reason = f"{self.kind}: {curve[step]:.6g} at step {step}: {verdict}"
        return PruneDecision(step=step, prune=prune, reason=reason)

    # ---- what is kept --------------------------------------------------------------------

    def _complete(self, trial: TrialRecord) -> bool:
        """COMPLETE in the study: completed with the scan's metric."""
        return (
            trial.state is TrialState.COMPLETED and trial.value(self.config.metric.name) is not None
        )

    def _fold(self, trial: TrialRecord, curve: Curve) -> None:
        self._unfinished.discard(trial.trial_id)
        self._finished.add(trial.trial_id)
        if self.kind == "median":
            if self._complete(trial):
                self._completed += 1
                for step, value in curve.items():
                    self._at_step.setdefault(step, {})[trial.number] = value
            return
        attrs = rung_values(self.pruner, curve)
        if attrs:
            self._rungs[trial.trial_id] = attrs

    # ---- the median pruner (Optuna's PercentilePruner.prune, at 50) ----------------------

    def _median_prunes(self, curve: Curve) -> bool:
        pruner: Any = self.pruner
        if self._completed == 0 or self._completed < pruner._n_startup_trials:
            return False
        last = max(curve)
        warmup = pruner._n_warmup_steps
        if last < warmup:
            return False
        if not _is_first_in_interval_step(last, curve.keys(), warmup, pruner._interval_steps):
            return False
        best = _get_best_intermediate_result_over_steps(
            SimpleNamespace(intermediate_values=curve),  # type: ignore[arg-type]
            self.direction,
        )
        if math.isnan(best):
            return True
        peers = [
            SimpleNamespace(intermediate_values={last: v})
            for v in self._at_step.get(last, {}).values()
        ]
        if not peers:  # no COMPLETE trial reported this step: no percentile
            return False
        p = _get_percentile_intermediate_result_over_trials(
            peers,  # type: ignore[arg-type]
            self.direction,
            last,
            pruner._percentile,
            pruner._n_min_trials,
        )
        if math.isnan(p):
            return False
        return bool(best < p) if self.direction == StudyDirection.MAXIMIZE else bool(best > p)

    def _median_reason(self, prune: bool, value: float, step: int) -> str:
        verdict = "prune" if prune else "continue"
        at_step = self._at_step.get(step, {})
        peers = sorted(at_step[number] for number in sorted(at_step))
        if not peers:
            return f"median: no finished trial reported step {step} yet: {verdict}"
        median = peers[len(peers) // 2]
        return (
            f"median: {value:.6g} at step {step} vs median {median:.6g}"
            f" of {len(peers)} finished trials: {verdict}"
        )

    # ---- successive halving, alone or in a Hyperband bracket -----------------------------

    def _halving_prunes(
        self, trial: TrialRecord, step: int, curve: Curve, read_curves: CurveReader
    ) -> bool:
        """SuccessiveHalvingPruner.prune over the trial's bracket."""
        bracket = self._bracket(trial.number)
        halving: Any = self.pruner
        if isinstance(self.pruner, optuna.pruners.HyperbandPruner):
            halving = self.pruner._pruners[bracket]
        competitors = self._competitors(trial.trial_id, bracket, read_curves)
        last = max(curve)
        value = curve[last]
        rung = len(rung_values(self.pruner, curve, before=step))
        factor = halving._reduction_factor
        while True:
            promotion = halving._min_resource * factor ** (halving._min_early_stopping_rate + rung)
            if last < promotion:
                return False
            if math.isnan(value):
                return True
            key = _completed_rung_key(rung)
            competing = [attrs[key] for attrs in competitors if key in attrs]
            competing.append(value)
            if len(competing) <= halving._bootstrap_count:
                return True
            if not _is_trial_promotable_to_next_rung(value, competing, factor, self.direction):
                return True
            rung += 1

    def _competitors(
        self, trial_id: str, bracket: int, read_curves: CurveReader
    ) -> list[dict[str, float]]:
        """The rung values of every other trial of the bracket: kept for finished trials,
        read now for unfinished ones."""
        ids = [t for t in self._rungs if self._bracket(self._numbers[t]) == bracket]
        out = [self._rungs[t] for t in ids]
        unfinished = sorted(
            t
            for t in self._unfinished
            if t != trial_id and self._bracket(self._numbers[t]) == bracket
        )
        if unfinished:
            for other, curve in read_curves(unfinished).items():
                if other != trial_id:
                    out.append(rung_values(self.pruner, curve))
        return out

    def _bracket(self, number: int) -> int:
        if not isinstance(self.pruner, optuna.pruners.HyperbandPruner):
            return 0
        bracket = self._brackets.get(number)
        if bracket is None:
            bracket = self.pruner._get_bracket_id(
                SimpleNamespace(study_name=STUDY_NAME),  # type: ignore[arg-type]
                SimpleNamespace(number=number),  # type: ignore[arg-type]
            )
            self._brackets[number] = bracket
        return bracket
