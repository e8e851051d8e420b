"""What a scan's trials say: the best trial, the Pareto front of several metrics, the
spread of a metric over seeds; and the use cases that read trials and curves."""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Sequence

from scanfleet.config import ScanConfig
from scanfleet.records import Spread, TrialRecord, TrialState
from scanfleet.service._context import COMPLETED, ServiceContext

TAG_SEED_OF = "seed_of"  # trial tag: the trial is a seed run of the best trial it names
TAG_REUSED_FROM = "reused_from"  # trial tag: its result was taken from this earlier trial
_CURVE_READ_CHUNK = 10  # trials whose curves one store read of a curve page fetches


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
    """Mean, sample std and sem of finite ``values``, computed on the values divided by a
    power of two (exact) that brings them into (-2, 2), so that no sum overflows (values
    near 1.8e308 are legal results); a std past the largest float is reported as the
    largest float."""
    n = len(values)
    scale = math.ldexp(1.0, math.frexp(max(abs(v) for v in values))[1] - 1)
    scaled = [v / scale for v in values]
    mean = math.fsum(scaled) / n
    variance = math.fsum((v - mean) ** 2 for v in scaled) / (n - 1) if n > 1 else 0.0
    std = min(math.sqrt(variance) * scale, sys.float_info.max)
    return Spread(n=n, mean=mean * scale, std=std, sem=std / math.sqrt(n))


class Results:
    """The use cases that read a scan's trials and curves."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def best_trial(self, scan_id: str, *, owner: str) -> TrialRecord | None:
        """The best COMPLETED trial by the scan's metric (the first of several); seed runs
        are left out."""
        scan = self.ctx.scan(scan_id, owner)
        done = self.ctx.store.list_trials(scan_id, states=COMPLETED)
        return best_of(done, self.ctx.config_of(scan))

    def best_trials(self, scan_id: str, *, owner: str) -> list[TrialRecord]:
        """The Pareto front of the scan's metrics: the COMPLETED trials that no other one
        beats on every metric. With a single metric: the best trial (and its equals)."""
        scan = self.ctx.scan(scan_id, owner)
        done = self.ctx.store.list_trials(scan_id, states=COMPLETED)
        return pareto_front(done, self.ctx.config_of(scan))

    def list_trials(
        self,
        scan_id: str,
        *,
        owner: str,
        states: frozenset[TrialState] | None = None,
        after: int = -1,
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """The scan's trials by number; with ``limit``, one page of them: at most ``limit``
        trials numbered above ``after`` (the last number of the previous page)."""
        self.ctx.scan(scan_id, owner)
        trials = self.ctx.store.iter_trials(scan_id, states=states, after=after)
        return list(itertools.islice(trials, limit))

    def intermediate_values(
        self,
        scan_id: str,
        *,
        owner: str,
        metric: str | None = None,
        states: frozenset[TrialState] | None = None,
    ) -> tuple[str, dict[str, dict[int, float]]]:
        """The curves ``{trial_id: {step: value}}`` of one metric (default: the scan's),
        only of the trials in ``states`` when given."""
        store = self.ctx.store
        scan = self.ctx.scan(scan_id, owner)
        metric = metric or self.ctx.config_of(scan).metric.name
        trial_ids = None
        if states is not None:
            trial_ids = [t.trial_id for t in store.iter_trials(scan_id, states=states)]
        return metric, store.intermediate_values(scan_id, metric, trial_ids=trial_ids)

    def intermediate_values_page(
        self,
        scan_id: str,
        *,
        owner: str,
        metric: str | None = None,
        states: frozenset[TrialState] | None = None,
        after: int = -1,
        limit: int,
        max_points: int,
    ) -> tuple[str, dict[str, dict[int, float]], int | None]:
        """One page of ``intermediate_values``: the curves of at most ``limit`` trials
        numbered above ``after``, by number, and ``next_after`` (the last number of the page;
        None on the last page). A page ends early before a trial whose curve would take it
        past ``max_points`` values; a page always holds one trial, whatever its length
        (a curve is never split)."""
        store = self.ctx.store
        scan = self.ctx.scan(scan_id, owner)
        metric = metric or self.ctx.config_of(scan).metric.name
        trials = itertools.islice(store.iter_trials(scan_id, states=states, after=after), limit)
        curves: dict[str, dict[int, float]] = {}
        points, last, taken = 0, after, 0
        # read the curves a few trials at a time, so a cut page wastes few reads
        while chunk := list(itertools.islice(trials, _CURVE_READ_CHUNK)):
            read = store.intermediate_values(scan_id, metric, trial_ids=[t.trial_id for t in chunk])
            for trial in chunk:
                curve = read.get(trial.trial_id, {})
                if taken and points + len(curve) > max_points:
                    return metric, curves, last
                if curve:
                    curves[trial.trial_id] = curve
                points, last, taken = points + len(curve), trial.number, taken + 1
        return metric, curves, last if taken == limit else None
