"""Handing out trials: the one place that decides what runs next (a re-queued trial
first, else the strategy's next suggestion, claimed on creation), the claim of a named
trial, and the re-queue of trials whose worker died."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from scanfleet.artifacts import ArtifactError
from scanfleet.config import ScanConfig
from scanfleet.records import (
    Checkpoint,
    RequeueReason,
    ScanRecord,
    TrialRecord,
    TrialState,
    trial_id_for,
)
from scanfleet.search import SAMPLER_ATTRS, SearchStrategy, Suggestion
from scanfleet.service._context import LiveStudyEntry, ServiceContext, raise_if_finished
from scanfleet.service._params import complete_params
from scanfleet.service._results import TAG_REUSED_FROM, is_seed_run
from scanfleet.service._reuse import reusable_result, warm_start_trials
from scanfleet.service._scan_end import finish_scan_if_done, stop_reason
from scanfleet.store import InsertResult

if TYPE_CHECKING:
    from scanfleet.search import OptunaStrategy

logger = logging.getLogger("scanfleet.service")

_MAX_DUPLICATE_SUGGESTIONS = 20  # a sampler that repeats itself this often has run dry
_MAX_CLAIM_ROUNDS = 10_000  # bounds the loop over grid cells that duplicate earlier cells


class Dispatch:
    """The claim loop."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def claim_next_trial(
        self,
        scan_id: str,
        worker_id: str,
        *,
        owner: str,
        lease_seconds: float | None = None,
    ) -> TrialRecord | None:
        """The one place that decides what runs next: a re-queued (or hand-added) trial
        first, else the strategy's next suggestion, claimed on creation.

        Returns:
            The claimed trial, or None when nothing is free right now (trials are still
            running and may come back to the queue).
        Raises:
            ScanFinishedError: the scan is finished, or has just finished.
        """
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        raise_if_finished(scan)
        config = ctx.config_of(scan)
        lease = lease_seconds if lease_seconds is not None else config.execution.lease_seconds
        now = ctx.now()
        self.reclaim_stale(scan_id, owner=owner)
        trial = ctx.store.claim_queued(scan_id, worker_id, lease_seconds=lease, now=now)
        if trial is not None:
            return trial
        return self._claim_new(scan, config, worker_id, lease)

    def claim_trial(
        self, trial_id: str, worker_id: str, *, owner: str, lease_seconds: float | None = None
    ) -> TrialRecord | None:
        """Claim one named QUEUED trial (the Batch job of a lane runs the trial the state
        machine chose). Returns None when another worker holds it. A holder whose lease
        ran out (its machine vanished; Batch retries the job) loses it first."""
        ctx = self.ctx
        scan = ctx.scan_of_trial(trial_id, owner)
        raise_if_finished(scan)
        lease = lease_seconds or ctx.config_of(scan).execution.lease_seconds
        self.reclaim_stale(scan.scan_id, owner=owner)
        return ctx.store.claim_trial(trial_id, worker_id, lease_seconds=lease, now=ctx.now())

    def reclaim_stale(self, scan_id: str, *, owner: str) -> list[TrialRecord]:
        """Re-queue RUNNING trials whose lease ran out (their worker died): a preemption,
        not the script's fault. Returns the trials re-queued by this call."""
        ctx = self.ctx
        ctx.scan(scan_id, owner)
        requeued = []
        for trial in ctx.store.expired_leases(scan_id, ctx.now()):
            again = ctx.store.requeue_trial(
                trial.trial_id,
                RequeueReason.PREEMPTED,
                now=ctx.now(),
                expected_attempt=trial.attempt,
                message="lease expired",
            )
            if again is not None:
                requeued.append(again)
        return requeued

    def _claim_new(
        self, scan: ScanRecord, config: ScanConfig, worker_id: str, lease: float
    ) -> TrialRecord | None:
        store = self.ctx.store
        strategy = self.ctx.strategy(scan)
        retry = 0
        for _ in range(_MAX_CLAIM_ROUNDS):
            if stop_reason(self.ctx, scan, config, strategy) is not None:
                break
            suggestion = self._suggest(scan, strategy, retry)
            if suggestion is None:
                break
            trial = self._new_trial(scan, config, suggestion, worker_id, lease)
            result = store.insert_trial(
                trial, expected_cursor=suggestion.cursor, max_trials=scan.max_run
            )
            if result is InsertResult.CREATED and trial.state is TrialState.COMPLETED:
                scan = store.get_scan(scan.scan_id)  # a reused result: suggest again
                continue
            if result is InsertResult.CREATED:
                return store.get_trial(trial.trial_id)
            if result is InsertResult.DUPLICATE:
                if suggestion.cursor is not None:
                    store.skip_cursor(scan.scan_id, suggestion.cursor)
                else:
                    retry += 1
                    if retry >= _MAX_DUPLICATE_SUGGESTIONS:
                        break
            elif result is InsertResult.LIMIT_REACHED:
                break
            scan = store.get_scan(scan.scan_id)
        return self._claim_after_search(scan.scan_id, worker_id, lease)

    def _claim_after_search(self, scan_id: str, worker_id: str, lease: float) -> TrialRecord | None:
        """The search has nothing more to suggest: the scan may be done; else the end of
        the search may have queued seed runs."""
        finish_scan_if_done(self.ctx, scan_id)
        raise_if_finished(self.ctx.store.get_scan(scan_id))
        return self.ctx.store.claim_queued(
            scan_id, worker_id, lease_seconds=lease, now=self.ctx.now()
        )

    def _suggest(self, scan: ScanRecord, strategy: SearchStrategy, retry: int) -> Suggestion | None:
        """The strategy's next suggestion. An Optuna scan's comes from the scan's live
        study, caught up with the trials changed since the last claim (the same
        suggestion as a full rebuild's); any other strategy's from the history."""
        if not getattr(strategy, "keeps_live_study", False):
            return strategy.suggest(scan, self._history(scan, strategy), retry=retry)
        live = cast("OptunaStrategy", strategy)
        entry = self.ctx.live_study_entry(scan)
        with entry.lock:
            self._catch_up(entry, scan, live)
            return live.suggest_live(scan, entry.study, retry=retry)

    def _catch_up(self, entry: LiveStudyEntry, scan: ScanRecord, strategy: OptunaStrategy) -> None:
        """Tell the live study the trials changed after its sequence; build it from every
        trial when there is none yet or it cannot follow a change in place."""
        store = self.ctx.store
        if entry.study is not None:
            changes = store.trials_changed_since(scan.scan_id, entry.seq)
            if entry.study.apply(changes.trials):
                entry.seq = changes.seq
                return
        changes = store.trials_changed_since(scan.scan_id, None)
        study = strategy.live_study(self._warm(scan), lambda t: not is_seed_run(t))
        if not study.apply(changes.trials):  # every trial, by number: cannot happen
            raise AssertionError(f"the live study of scan {scan.scan_id} refused its trials")
        entry.study, entry.seq = study, changes.seq

    def _history(self, scan: ScanRecord, strategy: SearchStrategy) -> list[TrialRecord]:
        """What the strategy learns from: the warm-start trials of earlier scans, then the
        scan's own trials but its seed runs."""
        if not strategy.needs_history:
            return []
        own = [t for t in self.ctx.store.list_trials(scan.scan_id) if not is_seed_run(t)]
        return self._warm(scan) + own

    def _warm(self, scan: ScanRecord) -> list[TrialRecord]:
        """The warm-start trials of earlier scans (read once per scan)."""
        ctx = self.ctx
        config = ctx.config_of(scan)
        if not config.warm_start_from:
            return []
        if scan.scan_id not in ctx.warm_starts:
            ctx.warm_starts[scan.scan_id] = warm_start_trials(ctx.store, config)
        return ctx.warm_starts[scan.scan_id]

    def _new_trial(
        self,
        scan: ScanRecord,
        config: ScanConfig,
        suggestion: Suggestion,
        worker_id: str,
        lease: float,
    ) -> TrialRecord:
        """The trial a suggestion makes: RUNNING for ``worker_id``; COMPLETED when a
        ``reuse_from`` scan ran these parameters; with its lineage and a copy of its
        parent's checkpoint (pbt)."""
        # a grid cell is complete, and its conditions may set values the lists lack
        grid_cell = suggestion.cursor is not None
        params = suggestion.params if grid_cell else complete_params(config, suggestion.params)
        trial_id = trial_id_for(scan.scan_id, params, slot=suggestion.slot)
        now = self.ctx.now()
        trial = TrialRecord(
            scan_id=scan.scan_id,
            trial_id=trial_id,
            number=scan.trial_count,
            params=params,
            state=TrialState.RUNNING,
            attempt=1,
            worker_id=worker_id,
            lease_expires_at=now + lease,
            created_at=now,
            started_at=now,
            lineage=suggestion.lineage,
            checkpoint=self._start_checkpoint(scan.scan_id, suggestion, trial_id),
            user_attrs={SAMPLER_ATTRS: suggestion.sampler_attrs}
            if suggestion.sampler_attrs
            else {},
        )
        if suggestion.slot is not None:
            return trial
        earlier = reusable_result(self.ctx.store, config, params)
        if earlier is None:
            return trial
        return trial.model_copy(
            update={
                "state": TrialState.COMPLETED,
                "values": dict(earlier.values),
                "attempt": 0,
                "worker_id": None,
                "lease_expires_at": None,
                "started_at": None,
                "finished_at": now,
                "tags": {TAG_REUSED_FROM: earlier.trial_id},
            }
        )

    def _start_checkpoint(
        self, scan_id: str, suggestion: Suggestion, trial_id: str
    ) -> Checkpoint | None:
        """A copy of the parent's checkpoint (through the artifact-copy port), for a pbt
        trial that starts from one: only from inside the parent's checkpoint folder,
        checked again now (a record made before that rule is not trusted)."""
        parent = suggestion.lineage.parent_trial_id if suggestion.lineage else None
        if suggestion.start_from is None or parent is None:
            return None
        try:
            source = self.ctx.artifacts.check(suggestion.start_from.uri, scan_id, parent)
            uri = self.ctx.artifacts.copy(source, parent, trial_id)
        except (ArtifactError, OSError, ValueError) as exc:  # ValueError: a bad URI
            logger.warning("trial %s starts from scratch: %s", trial_id, exc)
            return None
        return Checkpoint(step=suggestion.start_from.step, uri=uri)
