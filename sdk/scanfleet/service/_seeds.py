"""Seed gathering (hypnettorch): the best parameters again, once per seed, in the same
scan; the runs are tagged ``seed_of: <best trial id>`` and summarised by mean and spread."""

from __future__ import annotations

from collections.abc import Sequence

from scanfleet.config import ScanConfig
from scanfleet.errors import InvalidValuesError, NoBestTrialError, ScanNotExtendableError
from scanfleet.records import (
    ScanRecord,
    ScanStatus,
    SeedSummary,
    TrialRecord,
    TrialState,
    trial_id_for,
)
from scanfleet.service._context import COMPLETED, ServiceContext
from scanfleet.service._results import TAG_SEED_OF, best_of, spread_of
from scanfleet.store import InsertResult, TrialStore

DEFAULT_SEED_PARAM = "seed"


def queue_seed_runs(
    store: TrialStore,
    scan: ScanRecord,
    best: TrialRecord,
    n: int,
    param: str,
    now: float,
) -> int:
    """Queue the runs of ``best``'s parameters with ``param`` = 0 .. n-1 (idempotent: a run
    that exists, the best trial itself included, is tagged instead). Returns how many
    trials this call created."""
    created = 0
    for seed in range(n):
        params = {**best.params, param: seed}
        trial = TrialRecord(
            scan_id=scan.scan_id,
            trial_id=trial_id_for(scan.scan_id, params),
            number=0,
            params=params,
            tags={TAG_SEED_OF: best.trial_id},
            created_at=now,
        )
        if store.insert_trial(trial) is InsertResult.CREATED:
            created += 1
        else:
            existing = store.get_trial(trial.trial_id)
            if TAG_SEED_OF not in existing.tags:
                store.set_trial_tags(trial.trial_id, {TAG_SEED_OF: best.trial_id})
    return created


def seed_summary(
    trials: Sequence[TrialRecord], config: ScanConfig, best: TrialRecord
) -> SeedSummary | None:
    """The spread of every metric over the COMPLETED seed runs of ``best``; None when no
    seed run of it was queued."""
    runs = [t for t in trials if t.tags.get(TAG_SEED_OF) == best.trial_id]
    if not runs:
        return None
    completed = [t for t in runs if t.state is TrialState.COMPLETED]
    names = [m.name for m in config.objectives()]
    names += sorted({k for t in completed for k in t.values} - set(names))
    metrics = {}
    for name in names:
        values = [v for t in completed if (v := t.value(name)) is not None]
        if values:
            metrics[name] = spread_of(values)
    seeds = config.seeds
    return SeedSummary(
        best_trial_id=best.trial_id,
        params=best.params,
        param=seeds.param if seeds is not None else DEFAULT_SEED_PARAM,
        runs=len(runs),
        finished=sum(t.state.is_finished() for t in runs),
        spread="sem" if seeds is not None and seeds.sem else "std",
        metrics=metrics,
    )


class Seeds:
    """The use cases of seed gathering."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def gather_seeds(self, scan_id: str, n: int, *, owner: str) -> SeedSummary:
        """Queue the best trial's parameters with seeds 0 .. n-1 (hypnettorch); a COMPLETED
        scan runs again for them. Asking again adds only the missing seeds.

        Raises:
            InvalidValuesError: ``n`` < 1.
            NoBestTrialError: no trial has completed yet.
            ScanNotExtendableError: the scan was cancelled or failed.
        """
        if n < 1:
            raise InvalidValuesError("n must be at least 1")
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanNotExtendableError(f"scan {scan_id} is {scan.status.value}")
        config = ctx.config_of(scan)
        best = best_of(ctx.store.list_trials(scan_id, states=COMPLETED), config)
        if best is None:
            raise NoBestTrialError(f"scan {scan_id} has no completed trial to gather seeds for")
        param = config.seeds.param if config.seeds is not None else DEFAULT_SEED_PARAM
        created = queue_seed_runs(ctx.store, scan, best, n, param, ctx.now())
        if created and scan.status is ScanStatus.COMPLETED:
            ctx.reopen(scan_id, f"gathering {n} seeds")
        summary = self.seed_summary(scan_id, owner=owner)
        assert summary is not None  # the runs were just queued
        return summary

    def seed_summary(self, scan_id: str, *, owner: str) -> SeedSummary | None:
        """Mean, std and SEM of every metric over the seed runs of the best trial; None
        when none were queued."""
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        config = ctx.config_of(scan)
        trials = ctx.store.list_trials(scan_id)
        best = best_of([t for t in trials if t.state is TrialState.COMPLETED], config)
        return seed_summary(trials, config, best) if best is not None else None
