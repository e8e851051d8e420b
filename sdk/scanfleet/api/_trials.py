"""Routes of the trials resource: the trials of a scan (list, add, claim the next) and one
trial through its life (claim, heartbeat, reports, checkpoints, complete, prune, fail)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import Router

from scanfleet.api._identity import Owner
from scanfleet.api._models import (
    CURVE_PAGE_LIMIT,
    CURVE_PAGE_POINTS,
    MAX_INT,
    PAGE_LIMIT,
    AddTrialBody,
    CheckpointBody,
    ClaimBody,
    CompleteBody,
    FailBody,
    HeartbeatBody,
    IntermediateValues,
    PruneBody,
    ReportBody,
    TrialList,
    answers,
    check_limits,
    dump,
)
from scanfleet.errors import AlreadyClaimedError
from scanfleet.records import PruneDecision, TrialRecord, TrialState
from scanfleet.service import ScanService


def _json(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type="application/json", body=body)


def trials_router(service: ScanService) -> Router:
    router = Router()
    _scan_trial_routes(router, service)
    _trial_routes(router, service)
    return router


def _scan_trial_routes(router: Router, service: ScanService) -> None:
    """The trials of one scan: list, add by hand, claim the next."""

    @router.get(
        "/scans/<scan_id>/trials",
        operation_id="listTrials",
        summary="The trials of a scan, optionally in one state",
        tags=["trials"],
        responses=answers(TrialList, 404),
    )
    def list_trials(
        scan_id: str,
        owner: Owner,
        state: Annotated[TrialState | None, Query()] = None,
        after: Annotated[int, Query(ge=-1, le=MAX_INT)] = -1,
        limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = PAGE_LIMIT,
    ) -> dict[str, Any]:
        states = frozenset({state}) if state else None
        trials = service.list_trials(scan_id, owner=owner, states=states, after=after, limit=limit)
        next_after = trials[-1].number if len(trials) == limit else None
        return {"trials": [dump(trial) for trial in trials], "next_after": next_after}

    @router.get(
        "/scans/<scan_id>/intermediate-values",
        operation_id="getIntermediateValues",
        summary="A page of the curves of one metric (default: the scan's), optionally of one state",
        tags=["trials"],
        responses=answers(IntermediateValues, 404),
    )
    def intermediate_values(
        scan_id: str,
        owner: Owner,
        metric: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        state: Annotated[TrialState | None, Query()] = None,
        after: Annotated[int, Query(ge=-1, le=MAX_INT)] = -1,
        limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = CURVE_PAGE_LIMIT,
    ) -> dict[str, Any]:
        states = frozenset({state}) if state else None
        name, curves, next_after = service.intermediate_values_page(
            scan_id,
            owner=owner,
            metric=metric,
            states=states,
            after=after,
            limit=limit,
            max_points=CURVE_PAGE_POINTS,
        )
        return dump(IntermediateValues(metric=name, trials=curves, next_after=next_after))

    @router.post(
        "/scans/<scan_id>/trials",
        operation_id="addTrial",
        summary="Queue a trial with these params (the same params: the existing trial)",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 410, created="a trial with these params existed"),
    )
    def add_trial(
        scan_id: str, body: Annotated[AddTrialBody, Body()], owner: Owner
    ) -> Response[dict[str, Any]]:
        check_limits(body.tags, "body.tags", {"params": body.params, "tags": body.tags})
        trial, created = service.add_trial(scan_id, body.params, owner=owner, tags=body.tags)
        return _json(201 if created else 200, dump(trial))

    @router.post(
        "/scans/<scan_id>/trials/claim",
        operation_id="claimNextTrial",
        summary="Claim the next trial to run",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 410, empty="none free right now (poll again)"),
    )
    def claim_next_trial(
        scan_id: str, body: Annotated[ClaimBody, Body()], owner: Owner
    ) -> Response[Any]:
        trial = service.claim_next_trial(
            scan_id, body.worker_id, owner=owner, lease_seconds=body.lease_seconds
        )
        if trial is None:
            return Response(status_code=204, body=None)
        return _json(200, dump(trial))


def _trial_routes(router: Router, service: ScanService) -> None:
    """One trial through its life."""

    @router.get(
        "/trials/<trial_id>",
        operation_id="getTrial",
        summary="One trial",
        tags=["trials"],
        responses=answers(TrialRecord, 404),
    )
    def get_trial(trial_id: str, owner: Owner) -> dict[str, Any]:
        return dump(service.get_trial(trial_id, owner=owner))

    @router.post(
        "/trials/<trial_id>/claim",
        operation_id="claimTrial",
        summary="Claim this queued trial",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 409, 410),
    )
    def claim_trial(
        trial_id: str, body: Annotated[ClaimBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        trial = service.claim_trial(
            trial_id, body.worker_id, owner=owner, lease_seconds=body.lease_seconds
        )
        if trial is None:
            raise AlreadyClaimedError(f"trial {trial_id} is held by another worker")
        return dump(trial)

    @router.post(
        "/trials/<trial_id>/heartbeat",
        operation_id="heartbeatTrial",
        summary="Extend the lease",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 409),
    )
    def heartbeat(
        trial_id: str, body: Annotated[HeartbeatBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        trial = service.heartbeat(
            trial_id, owner=owner, worker_id=body.worker_id, attempt=body.attempt
        )
        return dump(trial)

    @router.post(
        "/trials/<trial_id>/reports",
        operation_id="reportValue",
        summary="Report an intermediate value; answers whether to prune",
        tags=["trials"],
        responses=answers(PruneDecision, 404, 409),
    )
    def report(trial_id: str, body: Annotated[ReportBody, Body()], owner: Owner) -> dict[str, Any]:
        return dump(service.report(trial_id, body.metric, body.step, body.value, owner=owner))

    @router.post(
        "/trials/<trial_id>/checkpoints",
        operation_id="recordCheckpoint",
        summary="Record the last checkpoint (a resumed attempt starts after its step)",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 409),
    )
    def checkpoint(
        trial_id: str, body: Annotated[CheckpointBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        return dump(service.checkpoint(trial_id, body.step, body.uri, owner=owner))

    @router.post(
        "/trials/<trial_id>/complete",
        operation_id="completeTrial",
        summary="Finish the trial with its metric(s)",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 409),
    )
    def complete(
        trial_id: str, body: Annotated[CompleteBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        return dump(service.complete(trial_id, body.result(), owner=owner, attempt=body.attempt))

    @router.post(
        "/trials/<trial_id>/prune",
        operation_id="pruneTrial",
        summary="Finish the trial as pruned (its last reported value stands)",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 409),
    )
    def prune(
        trial_id: str, owner: Owner, body: Annotated[PruneBody | None, Body()] = None
    ) -> dict[str, Any]:
        attempt = body.attempt if body is not None else None
        return dump(service.prune(trial_id, owner=owner, attempt=attempt))

    @router.post(
        "/trials/<trial_id>/fail",
        operation_id="failTrial",
        summary="The trial stopped without a result: re-queued while budgets allow",
        tags=["trials"],
        responses=answers(TrialRecord, 404, 409),
    )
    def fail(trial_id: str, body: Annotated[FailBody, Body()], owner: Owner) -> dict[str, Any]:
        trial = service.fail(
            trial_id,
            body.reason,
            owner=owner,
            attempt=body.attempt,
            preempted=body.preempted,
            retry=body.retry,
        )
        return dump(trial)
