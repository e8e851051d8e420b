"""Routes of the scans resource."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import Router

from scanfleet.api._context import owner_of
from scanfleet.api._models import (
    CreateScanBody,
    ExtendBody,
    ScanList,
    ScanSummaryBody,
)
from scanfleet.errors import InvalidRequestError
from scanfleet.names import HEADER_IDEMPOTENCY_KEY
from scanfleet.records import ScanStatus
from scanfleet.service import ScanService


def scans_router(service: ScanService) -> Router:
    router = Router()

    def summary(scan_id: str) -> dict[str, Any]:
        return service.summarize(scan_id, owner=owner_of(router)).model_dump(mode="json")

    @router.post("/scans", responses={201: {"description": "created"}})
    def create_scan(body: Annotated[CreateScanBody, Body()]) -> Response[ScanSummaryBody]:
        wanted = HEADER_IDEMPOTENCY_KEY.lower()
        headers = router.current_event.headers or {}
        token = next((v for k, v in headers.items() if k.lower() == wanted), None)
        scan, created = service.create_scan(
            body.name, body.config, owner=owner_of(router), client_token=token
        )
        return Response(
            status_code=201 if created else 200,
            body=ScanSummaryBody.model_validate(summary(scan.scan_id)),
            content_type="application/json",
        )

    @router.get("/scans")
    def list_scans(
        status: Annotated[ScanStatus | None, Query()] = None,
        tag: Annotated[str | None, Query(description="key:value")] = None,
    ) -> ScanList:
        tag_filter = None
        if tag is not None:
            key, sep, value = tag.partition(":")
            if not sep or not key:
                raise InvalidRequestError("tag must be key:value")
            tag_filter = (key, value)
        scans = service.list_scans(owner=owner_of(router), status=status, tag=tag_filter)
        return ScanList(scans=scans)

    @router.get("/scans/<scan_id>")
    def get_scan(scan_id: str) -> ScanSummaryBody:
        return ScanSummaryBody.model_validate(summary(scan_id))

    @router.post("/scans/<scan_id>/cancel")
    def cancel_scan(scan_id: str) -> ScanSummaryBody:
        service.cancel(scan_id, owner=owner_of(router))
        return ScanSummaryBody.model_validate(summary(scan_id))

    @router.post("/scans/<scan_id>/extend")
    def extend_scan(scan_id: str, body: Annotated[ExtendBody, Body()]) -> ScanSummaryBody:
        service.extend(scan_id, body.max_run, owner=owner_of(router))
        return ScanSummaryBody.model_validate(summary(scan_id))

    return router
