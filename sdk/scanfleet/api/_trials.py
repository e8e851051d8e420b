"""Routes of the trials resource."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import Router

from scanfleet.api._context import owner_of
from scanfleet.api._models import (
    CheckpointBody,
    ClaimBody,
    CompleteBody,
    FailBody,
    HeartbeatBody,
    PruneBody,
    ReportBody,
)
from scanfleet.errors import ConflictError
from scanfleet.records import PruneDecision, TrialRecord
from scanfleet.service import InvalidValuesError, ScanService


class AlreadyClaimedError(ConflictError):
    code = "already_claimed"


def trials_router(service: ScanService) -> Router:
    router = Router()

    @router.get("/trials/<trial_id>")
    def get_trial(trial_id: str) -> TrialRecord:
        return service.get_trial(trial_id, owner=owner_of(router))

    @router.post("/trials/<trial_id>/claim")
    def claim_trial(trial_id: str, body: Annotated[ClaimBody, Body()]) -> TrialRecord:
        trial = service.claim_trial(
            trial_id, body.worker_id, owner=owner_of(router), lease_seconds=body.lease_seconds
        )
        if trial is None:
            raise AlreadyClaimedError(f"trial {trial_id} is held by another worker")
        return trial

    @router.post("/trials/<trial_id>/heartbeat")
    def heartbeat(trial_id: str, body: Annotated[HeartbeatBody, Body()]) -> TrialRecord:
        return service.heartbeat(
            trial_id, owner=owner_of(router), worker_id=body.worker_id, attempt=body.attempt
        )

    @router.post("/trials/<trial_id>/reports")
    def report(trial_id: str, body: Annotated[ReportBody, Body()]) -> PruneDecision:
        return service.report(trial_id, body.metric, body.step, body.value, owner=owner_of(router))

    @router.post("/trials/<trial_id>/checkpoints")
    def checkpoint(trial_id: str, body: Annotated[CheckpointBody, Body()]) -> TrialRecord:
        return service.checkpoint(trial_id, body.step, body.uri, owner=owner_of(router))

    @router.post("/trials/<trial_id>/complete")
    def complete(trial_id: str, body: Annotated[CompleteBody, Body()]) -> TrialRecord:
        if (body.values is None) == (body.value is None):
            raise InvalidValuesError("give either 'values' or 'value'")
        values = body.values if body.values is not None else body.value
        assert values is not None
        return service.complete(trial_id, values, owner=owner_of(router), attempt=body.attempt)

    @router.post("/trials/<trial_id>/prune")
    def prune(trial_id: str, body: Annotated[PruneBody, Body()]) -> TrialRecord:
        return service.prune(trial_id, owner=owner_of(router), attempt=body.attempt)

    @router.post("/trials/<trial_id>/fail")
    def fail(trial_id: str, body: Annotated[FailBody, Body()]) -> TrialRecord:
        return service.fail(
            trial_id,
            body.reason,
            owner=owner_of(router),
            attempt=body.attempt,
            preempted=body.preempted,
            retry=body.retry,
        )

    return router
