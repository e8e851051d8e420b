"""The life of a scan: create (with its uploaded script), read, summarise, list, cancel,
delete, mark done or running again, extend. The lifecycle port hears of starts, re-opens
and stops."""

from __future__ import annotations

import contextlib
import threading
from functools import partial
from typing import Any

from scanfleet.config import MAX_RUN, ScanConfig, load_config
from scanfleet.errors import (
    InputsNotStoredError,
    InvalidValuesError,
    PermissionDeniedError,
    ScanNotExtendableError,
)
from scanfleet.records import (
    ScanRecord,
    ScanStatus,
    TrialState,
    new_scan_id,
)
from scanfleet.service._context import UNFINISHED, ServiceContext
from scanfleet.service._results import best_of, pareto_front
from scanfleet.service._reuse import check_earlier_scans
from scanfleet.service._seeds import seed_summary
from scanfleet.store import TrialFinishedError
from scanfleet.tenancy import Tenant, TrialGrant
from scanfleet.wire import ScanSummary


class Scans:
    """The use cases of whole scans."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._relisted = False  # scans stored before tenancy listed under their tenants
        self._relisting = threading.Lock()

    def create_scan(
        self,
        name: str,
        config: ScanConfig | dict[str, Any] | str,
        *,
        owner: str,
        client_token: str | None = None,
        script_content: str | None = None,
    ) -> tuple[ScanRecord, bool]:
        """Validate and store a scan (idempotent by ``client_token``). ``script_content``
        is the text of the config's ``script``, uploaded with the scan: it is stored, and
        the config's ``script`` becomes the URI of the stored copy. The lifecycle hears of
        a scan created (not of one a retried create named).

        Returns:
            The scan, and False when ``client_token`` named an existing scan.

        Raises:
            ConfigError: the config is invalid (also when a ``reuse_from`` or
                ``warm_start_from`` scan, named by id or by name, is not the owner's
                or has another space); nothing is stored.
        """
        store = self.ctx.store
        if isinstance(owner, TrialGrant):
            raise PermissionDeniedError("a worker token cannot create scans")
        owns = partial(self.ctx.owns, owner=owner)
        cfg = load_config(config)
        if cfg.reuse_from or cfg.warm_start_from:  # named: found among the owner's scans
            self.relist_arn_owned_scans()
        cfg = check_earlier_scans(store, cfg, owner, owns)  # names → ids
        scan = ScanRecord(
            scan_id=new_scan_id(),
            name=name,
            owner=str(owner),  # the tenant
            config=cfg.model_dump(mode="json"),
            max_run=cfg.max_run,
            tags=dict(cfg.tags),
            client_token=client_token,
            created_at=self.ctx.now(),
        )
        if script_content is None:
            stored, created = store.create_scan(scan)
        else:
            stored, created = self._create_with_script(scan, cfg, script_content)
        if created:
            self.ctx.announce(stored, self.ctx.lifecycle.on_started)
        return stored, created

    def _create_with_script(
        self, scan: ScanRecord, cfg: ScanConfig, script_content: str
    ) -> tuple[ScanRecord, bool]:
        inputs = self.ctx.inputs
        if inputs is None:
            raise InputsNotStoredError("this API does not store uploaded scripts")
        if not cfg.script:
            raise InvalidValuesError("script_content needs the config's 'script' (its file name)")
        name = cfg.script.replace("\\", "/").rsplit("/", 1)[-1]
        uri = inputs.put(scan.scan_id, name, script_content.encode())
        scan.config["script"] = uri
        stored, created = self.ctx.store.create_scan(scan)
        if not created:  # the client token named an earlier scan: keep its own copy
            inputs.delete(scan.scan_id)
        return stored, created

    def get_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        """Raises ScanNotFoundError, also when the scan belongs to another owner."""
        return self.ctx.scan(scan_id, owner)

    def summarize(self, scan_id: str, *, owner: str) -> ScanSummary:
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        config = ctx.config_of(scan)
        size = ctx.strategy(scan).planned_trials()
        planned = scan.max_run if size is None else min(scan.max_run, size)
        if config.seeds is not None:
            planned += config.seeds.n
        trials = ctx.store.list_trials(scan_id)
        done = [t for t in trials if t.state is TrialState.COMPLETED]
        best = best_of(done, config)
        return ScanSummary(
            scan=scan,
            counts=ctx.store.counts(scan_id),
            best_trial=best,
            planned_trials=planned,
            best_trials=pareto_front(done, config),
            seeds=seed_summary(trials, config, best) if best else None,
        )

    def list_scans(
        self,
        *,
        owner: str,
        status: ScanStatus | None = None,
        tag: tuple[str, str] | None = None,
    ) -> list[ScanRecord]:
        """The owner's scans, newest first: those listed under its tenant (scans stored
        before tenancy under an ARN included, once :meth:`relist_arn_owned_scans` ran; it
        runs at the first listing) and under its former token id. A scan listed there
        that the owner no longer owns (the mapping moved its ARN since) is left out, and
        listed under its tenant now."""
        if isinstance(owner, TrialGrant):
            return []
        self.relist_arn_owned_scans()
        former = owner.former if isinstance(owner, Tenant) else None
        scans = []
        for listed_as in [str(owner)] if former is None else [str(owner), former]:
            for scan in self.ctx.store.list_scans(listed_as, status=status, tag=tag):
                if self.ctx.owns(scan, owner):
                    scans.append(scan)
                else:
                    tenant = self.ctx.tenants.owner_tenant(scan.owner)
                    list_as = scan.owner if tenant is None else tenant
                    self.ctx.store.relist_scan(scan.scan_id, listed_as=listed_as, list_as=list_as)
        if former is not None:  # the caller's scans from before tenancy
            scans.sort(key=lambda scan: (scan.created_at, scan.scan_id), reverse=True)
        return scans

    def relist_arn_owned_scans(self) -> int:
        """List the scans stored before tenancy under their tenants, once per service.

        Such a scan's stored owner, which the store lists it under, is its creator's IAM
        ARN; it is moved to the tenant that ARN maps to now (``TenantMap.owner_tenant``,
        the rule that already lets the tenant get it by id), so ``GET /scans`` lists it.
        Only the listing key moves: the stored owner stays, and with it who may act on
        the scan (the lanes of a running execution too). An ARN the mapping refuses stays
        where it is. Each move is a compare-and-set, so racing services are harmless.

        Returns:
            How many scans this call moved (0 once done).
        """
        store, tenants = self.ctx.store, self.ctx.tenants
        moved = 0
        with self._relisting:
            if self._relisted:
                return 0
            for scan_id, arn in store.scans_listed_under("arn:"):
                tenant = tenants.owner_tenant(arn)
                if tenant is not None and tenant != arn:
                    moved += int(store.relist_scan(scan_id, listed_as=arn, list_as=tenant))
            self._relisted = True
        return moved

    def cancel(self, scan_id: str, *, owner: str) -> ScanRecord:
        """Stop handing out trials; unfinished trials become FAILED ("scan cancelled"), so
        their workers learn it at their next heartbeat; then the lifecycle hears the scan
        stopped. Cancelling twice is harmless."""
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        if scan.status is ScanStatus.RUNNING:
            ctx.store.set_scan_status(
                scan_id, ScanStatus.CANCELLED, reason="cancelled by user", now=ctx.now()
            )
        for trial in ctx.store.iter_trials(scan_id, states=UNFINISHED):
            with contextlib.suppress(TrialFinishedError):
                ctx.store.finish_trial(
                    trial.trial_id, TrialState.FAILED, now=ctx.now(), reason="scan cancelled"
                )
        cancelled = ctx.store.get_scan(scan_id)
        ctx.lifecycle.on_stopped(cancelled, reason="scan cancelled")
        return cancelled

    def delete_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        """Delete the scan and its trials (Schedy's ``delete``, Oscar's ``resume: False``),
        once the lifecycle has heard it stops. Workers of its running trials learn it at
        their next heartbeat (404).

        Raises:
            ScanNotFoundError: no such scan for this owner (also when deleted before).
        """
        ctx = self.ctx
        ctx.lifecycle.on_stopped(ctx.scan(scan_id, owner), reason="scan deleted")
        ctx.forget(scan_id)
        deleted = ctx.store.delete_scan(scan_id)
        if ctx.inputs is not None:
            ctx.inputs.delete(scan_id)
        return deleted

    def set_status(self, scan_id: str, status: ScanStatus, *, owner: str) -> ScanRecord:
        """Mark a RUNNING scan done (COMPLETED: nothing more is handed out; Schedy's DONE,
        a paused experiment) or a COMPLETED one running again. The same status: no change.

        Raises:
            InvalidValuesError: ``status`` is not RUNNING or COMPLETED.
            ScanNotExtendableError: the scan was cancelled or failed.
        """
        if status not in (ScanStatus.RUNNING, ScanStatus.COMPLETED):
            raise InvalidValuesError("a scan can only be marked RUNNING or COMPLETED")
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanNotExtendableError(f"scan {scan_id} is {scan.status.value}")
        if scan.status is ScanStatus.COMPLETED and status is ScanStatus.RUNNING:
            ctx.reopen(scan_id, "marked RUNNING by user")
        elif scan.status is not status:
            ctx.store.set_scan_status(
                scan_id,
                status,
                reason=f"marked {status.value} by user",
                expected=scan.status,
                now=ctx.now(),
            )
        return ctx.store.get_scan(scan_id)

    def extend(self, scan_id: str, max_run: int, *, owner: str) -> ScanRecord:
        """Raise ``max_run`` and go on; a COMPLETED scan runs again, reusing its history.

        Raises:
            InvalidValuesError: ``max_run`` is not above the trials already created, or
                over ``MAX_RUN`` (the bound a config's ``max_run`` has).
            ScanNotExtendableError: the scan was cancelled or failed.
        """
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanNotExtendableError(
                f"scan {scan_id} is {scan.status.value}; only running or completed scans extend"
            )
        if max_run > MAX_RUN:
            raise InvalidValuesError(f"max_run may be at most {MAX_RUN:,}, not {max_run:,}")
        if max_run <= scan.trial_count:
            raise InvalidValuesError(
                f"max_run must exceed the {scan.trial_count} trials already created"
            )
        updated = ctx.store.set_max_run(scan_id, max_run)
        if updated.status is ScanStatus.COMPLETED:
            ctx.reopen(scan_id, f"extended to {max_run}")
        return ctx.store.get_scan(scan_id)
