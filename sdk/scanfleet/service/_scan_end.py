"""When a scan stops creating trials, and when it is finished: the one rule, shared by
the claim (nothing more to suggest) and the ends of trials (the last one settled)."""

from __future__ import annotations

from scanfleet.config import ScanConfig
from scanfleet.records import ScanRecord, ScanStatus, TrialState
from scanfleet.search import SearchStrategy
from scanfleet.service._completion import completion_reason
from scanfleet.service._context import ServiceContext
from scanfleet.service._results import TAG_SEED_OF, best_of
from scanfleet.service._seeds import queue_seed_runs


def stop_reason(
    ctx: ServiceContext, scan: ScanRecord, config: ScanConfig, strategy: SearchStrategy
) -> str | None:
    """Why no new trial should be created, or None."""
    if scan.trial_count >= scan.max_run:
        return f"max_run ({scan.max_run}) reached"
    exhausted = strategy.exhausted(scan)
    if exhausted is not None:
        return exhausted
    return completion_reason(config, scan, lambda: ctx.store.list_trials(scan.scan_id), ctx.now())


def finish_scan_if_done(ctx: ServiceContext, scan_id: str) -> None:
    """COMPLETED when nothing is queued or running and nothing more will be suggested;
    FAILED as soon as ``max_failed`` trials have failed."""
    scan = ctx.store.get_scan(scan_id)
    if scan.status.is_finished():
        return
    config = ctx.config_of(scan)
    counts = ctx.store.counts(scan_id)
    now = ctx.now()
    max_failed = config.completion.max_failed
    if max_failed is not None and counts[TrialState.FAILED] >= max_failed:
        ctx.store.set_scan_status(
            scan_id, ScanStatus.FAILED, reason=f"{max_failed} trials failed", now=now
        )
        return
    if counts[TrialState.QUEUED] or counts[TrialState.RUNNING]:
        return
    reason = stop_reason(ctx, scan, config, ctx.strategy(scan))
    if reason is None:
        return
    if config.seeds is not None and _start_seed_runs(ctx, scan, config):
        return
    ctx.store.set_scan_status(scan_id, ScanStatus.COMPLETED, reason=reason, now=now)


def _start_seed_runs(ctx: ServiceContext, scan: ScanRecord, config: ScanConfig) -> bool:
    """At the end of the search, once: queue the seed runs of the best trial. Returns
    True when runs were queued (the scan goes on for them)."""
    assert config.seeds is not None
    trials = ctx.store.list_trials(scan.scan_id)
    if any(TAG_SEED_OF in t.tags for t in trials):
        return False  # the seed runs were queued before: they are done now
    best = best_of([t for t in trials if t.state is TrialState.COMPLETED], config)
    if best is None:
        return False
    n, param = config.seeds.n, config.seeds.param
    return queue_seed_runs(ctx.store, scan, best, n, param, ctx.now()) > 0
