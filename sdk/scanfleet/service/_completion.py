"""When a scan stops creating trials before ``max_run``: the completion criteria."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scanfleet.config import ScanConfig
from scanfleet.records import ScanRecord, TrialRecord, TrialState
from scanfleet.service._results import best_of, is_seed_run, minimize


def gpu_hours(trials: Sequence[TrialRecord], gpus_per_trial: int, now: float) -> float:
    """GPU-hours used: every attempt's running time (the current one so far) × GPUs."""
    seconds = 0.0
    for trial in trials:
        seconds += trial.duration_s
        if trial.state is TrialState.RUNNING and trial.started_at is not None:
            seconds += max(0.0, now - trial.started_at)
    return seconds * gpus_per_trial / 3600.0


def completion_reason(
    config: ScanConfig,
    scan: ScanRecord,
    trials: Callable[[], Sequence[TrialRecord]],
    now: float,
) -> str | None:
    """Why the scan should create no more trials by its ``completion`` settings, or None.
    ``trials`` is called (it reads every trial) only when a criterion needs them."""
    completion = config.completion
    if completion.max_wall_hours is not None:
        hours = (now - scan.created_at) / 3600.0
        if hours >= completion.max_wall_hours:
            return f"max_wall_hours {completion.max_wall_hours:g} reached ({hours:.3g} h)"
    if completion.target is None and completion.patience is None and not completion.max_gpu_hours:
        return None
    everything = trials()
    if completion.max_gpu_hours is not None:
        used = gpu_hours(everything, config.resources.gpus, now)
        if used >= completion.max_gpu_hours:
            return f"max_gpu_hours {completion.max_gpu_hours:g} used ({used:.3g} GPU-hours)"
    done = [t for t in everything if t.state is TrialState.COMPLETED and not is_seed_run(t)]
    best = best_of(done, config)
    if best is None:
        return None
    metric = config.metric.name
    if completion.target is not None:
        value = best.values[metric]
        reached = value <= completion.target if minimize(config) else value >= completion.target
        if reached:
            return f"target {completion.target} reached ({value})"
    if completion.patience is not None:
        order = sorted(done, key=lambda t: (t.finished_at or 0.0, t.number))
        since_best = len(order) - 1 - order.index(best)
        if since_best >= completion.patience:
            return f"no improvement in {since_best} trials (patience {completion.patience})"
    return None
