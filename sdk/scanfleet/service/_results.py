"""What a scan's finished trials say: the best trial, the Pareto front of several
metrics, and the spread of a metric over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scanfleet.config import ScanConfig
from scanfleet.records import Spread, TrialRecord

TAG_SEED_OF = "seed_of"  # trial tag: the trial is a seed run of the best trial it names
TAG_REUSED_FROM = "reused_from"  # trial tag: its result was taken from this earlier trial


def is_seed_run(trial: TrialRecord) -> bool:
    """A seed run made for another trial (the best trial tagged as its own seed is not)."""
    seed_of = trial.tags.get(TAG_SEED_OF)
    return seed_of is not None and seed_of != trial.trial_id


def minimize(config: ScanConfig) -> bool:
    return config.metric.goal.value == "minimize"


def best_of(trials: Sequence[TrialRecord], config: ScanConfig) -> TrialRecord | None:
    """The best trial by the scan's metric (the first metric of several), seed runs left
    out; the earliest of equals."""
    metric = config.metric.name
    scored = [t for t in trials if t.value(metric) is not None and not is_seed_run(t)]
    if not scored:
        return None
    sign = 1.0 if minimize(config) else -1.0
    return min(scored, key=lambda t: (sign * t.values[metric], t.number))


def pareto_front(trials: Sequence[TrialRecord], config: ScanConfig) -> list[TrialRecord]:
    """The trials no other trial dominates (at least as good on every metric, better on
    one), by number; seed runs and trials missing a metric are left out. With one metric
    it is the best trial and its equals."""
    objectives = config.objectives()
    signs = [1.0 if m.goal.value == "minimize" else -1.0 for m in objectives]
    points: list[tuple[TrialRecord, tuple[float, ...]]] = []
    for trial in trials:
        values = [trial.value(m.name) for m in objectives]
        if is_seed_run(trial) or any(v is None for v in values):
            continue
        points.append(
            (trial, tuple(s * v for s, v in zip(signs, values, strict=True) if v is not None))
        )
    points.sort(key=lambda p: p[1])  # now only an earlier point can dominate a later one
    front: list[tuple[TrialRecord, tuple[float, ...]]] = []
    if len(objectives) <= 2:  # one sweep: a point survives if it beats the lowest last
        lowest = math.inf
        for trial, point in points:
            last = point[-1]
            if last < lowest or (front and point == front[-1][1]):
                front.append((trial, point))
                lowest = min(lowest, last)
    else:
        for trial, point in points:
            if not any(_dominates(other, point) for _, other in front):
                front.append((trial, point))
    return sorted((t for t, _ in front), key=lambda t: t.number)


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def spread_of(values: Sequence[float]) -> Spread:
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return Spread(n=n, mean=mean, std=std, sem=std / math.sqrt(n))
