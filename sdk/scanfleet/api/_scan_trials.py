"""Routes of the trials of one scan: list, add by hand, claim the next."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import Router

from scanfleet.api._context import owner_of
from scanfleet.api._models import AddTrialBody, ClaimBody, TrialList
from scanfleet.records import TrialRecord, TrialState
from scanfleet.service import ScanService


def scan_trials_router(service: ScanService) -> Router:
    router = Router()

    @router.get("/scans/<scan_id>/trials")
    def list_trials(scan_id: str, state: Annotated[TrialState | None, Query()] = None) -> TrialList:
        states = frozenset({state}) if state else None
        return TrialList(trials=service.list_trials(scan_id, owner=owner_of(router), states=states))

    @router.post("/scans/<scan_id>/trials", responses={201: {"description": "created"}})
    def add_trial(scan_id: str, body: Annotated[AddTrialBody, Body()]) -> Response[TrialRecord]:
        trial, created = service.add_trial(
            scan_id, body.params, owner=owner_of(router), tags=body.tags
        )
        return Response(
            status_code=201 if created else 200,
            body=trial,
            content_type="application/json",
        )

    @router.post("/scans/<scan_id>/trials/claim", responses={204: {"description": "none free"}})
    def claim_next(
        scan_id: str, body: Annotated[ClaimBody, Body()]
    ) -> Response[TrialRecord | None]:
        trial = service.claim_next_trial(
            scan_id, body.worker_id, owner=owner_of(router), lease_seconds=body.lease_seconds
        )
        if trial is None:
            return Response(status_code=204, body=None)
        return Response(status_code=200, body=trial, content_type="application/json")

    return router
