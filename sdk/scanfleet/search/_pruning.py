"""Pruning decisions, made when a worker reports, over the stored curves of the scan.

Optuna's pruners keep per-trial state (the rungs a trial reached) in the study; since the
study is rebuilt for every decision, that state is rebuilt from the stored curves first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.pruners._successive_halving import _completed_rung_key

from scanfleet.config import ScanConfig
from scanfleet.records import PruneDecision, TrialRecord
from scanfleet.search._optuna import build_study


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


def decide_prune(
    config: ScanConfig,
    trials: Sequence[TrialRecord],
    intermediate: Mapping[str, Mapping[int, float]],
    trial_id: str,
    step: int,
) -> PruneDecision:
    """Prune or continue ``trial_id`` at ``step``, and why."""
    pruner, kind = make_pruner(config)
    if config.early_stopping is None:
        return PruneDecision(step=step, prune=False, reason="no early stopping configured")
    ordered = sorted(trials, key=lambda t: t.number)
    index = next((i for i, t in enumerate(ordered) if t.trial_id == trial_id), None)
    curve = intermediate.get(trial_id, {})
    if index is None or step not in curve:
        return PruneDecision(step=step, prune=False, reason="no value reported at this step")
    rungs = _rung_attrs(pruner, intermediate, trial_id, step) if kind != "median" else {}
    study = build_study(config, ordered, intermediate, pruner=pruner, system_attrs=rungs)
    current = study.get_trials(deepcopy=False)[index]
    prune = pruner.prune(study, current)
    value = curve[step]
    return PruneDecision(
        step=step, prune=prune, reason=_reason(kind, prune, value, step, study, index)
    )


def _rung_attrs(
    pruner: optuna.pruners.BasePruner,
    intermediate: Mapping[str, Mapping[int, float]],
    trial_id: str,
    step: int,
) -> dict[str, dict[str, Any]]:
    """The rung values successive halving would have recorded on each trial: the value
    at the first reported step at or past each rung's promotion step (for the reporting
    trial, only the rungs it passed before this step)."""
    min_resource = getattr(pruner, "_min_resource", None)
    factor = getattr(pruner, "_reduction_factor", None)
    if not isinstance(min_resource, int) or not isinstance(factor, int):
        return {}
    attrs: dict[str, dict[str, Any]] = {}
    for tid, curve in intermediate.items():
        steps = sorted(s for s in curve if tid != trial_id or s < step)
        rung = 0
        while True:
            promotion = min_resource * factor**rung
            reached = next((s for s in steps if s >= promotion), None)
            if reached is None:
                break
            attrs.setdefault(tid, {})[_completed_rung_key(rung)] = curve[reached]
            rung += 1
    return attrs


def _reason(
    kind: str, prune: bool, value: float, step: int, study: optuna.Study, index: int
) -> str:
    verdict = "prune" if prune else "continue"
    if kind == "median":
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if step in t.intermediate_values
        ]
        if peers:
            peers.sort()
            median = peers[len(peers) // 2]
            return (
                f"median: {value:.6g} at step {step} vs median {median:.6g}"
                f" of {len(peers)} finished trials: {verdict}"
            )
        return f"median: no finished trial reported step {step} yet: {verdict}"
    return f"{kind}: {value:.6g} at step {step}: {verdict}"
