"""Routes of the scans resource: create, list, show, delete, mark done or running, cancel,
extend.

Each handler parses, makes the one call of the use case, and dumps the result; a change of
a scan answers its fresh summary (counts and best trial), which is what callers show.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.router import Router

from scanfleet.api._identity import Owner
from scanfleet.api._models import (
    CreateScanBody,
    ExtendBody,
    ScanList,
    ScanSummary,
    StatusBody,
    answers,
    check_limits,
    dump,
)
from scanfleet.records import ScanRecord, ScanStatus
from scanfleet.service import ScanService
from scanfleet.wire import HEADER_IDEMPOTENCY_KEY, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS

_TAG = r"^[^:]+:.*$"
_TAG_CHARS = MAX_TAG_KEY_CHARS + 1 + MAX_TAG_VALUE_CHARS


def scans_router(service: ScanService) -> Router:
    router = Router()

    def summary(scan_id: str, owner: str) -> dict[str, Any]:
        return dump(service.summarize(scan_id, owner=owner))

    @router.post(
        "/scans",
        operation_id="createScan",
        summary="Create a scan (idempotent with Idempotency-Key)",
        tags=["scans"],
        responses=answers(ScanSummary, created="the scan this Idempotency-Key created before"),
    )
    def create_scan(
        body: Annotated[CreateScanBody, Body()],
        owner: Owner,
        idempotency_key: Annotated[
            str | None, Header(alias=HEADER_IDEMPOTENCY_KEY, min_length=1, max_length=200)
        ] = None,
    ) -> Response[dict[str, Any]]:
        record = {"name": body.name, "config": body.config}
        check_limits(body.config.get("tags"), "body.config.tags", record)
        scan, created = service.create_scan(
            body.name,
            body.config,
            owner=owner,
            client_token=idempotency_key,
            script_content=body.script_content,
        )
        return Response(
            status_code=201 if created else 200,
            content_type="application/json",
            body=summary(scan.scan_id, owner),
        )

    @router.get(
        "/scans",
        operation_id="listScans",
        summary="The caller's scans",
        tags=["scans"],
        responses=answers(ScanList),
    )
    def list_scans(
        owner: Owner,
        status: Annotated[ScanStatus | None, Query()] = None,
        tag: Annotated[
            str | None, Query(pattern=_TAG, max_length=_TAG_CHARS, description="key:value")
        ] = None,
    ) -> dict[str, Any]:
        key, _, value = (tag or "").partition(":")
        scans = service.list_scans(owner=owner, status=status, tag=(key, value) if tag else None)
        return {"scans": [dump(scan) for scan in scans]}

    @router.get(
        "/scans/<scan_id>",
        operation_id="getScan",
        summary="A scan with its counts per state and its best trial",
        tags=["scans"],
        responses=answers(ScanSummary, 404),
    )
    def get_scan(scan_id: str, owner: Owner) -> dict[str, Any]:
        return summary(scan_id, owner)

    @router.delete(
        "/scans/<scan_id>",
        operation_id="deleteScan",
        summary="Delete a scan and its trials (answers the scan as it was)",
        tags=["scans"],
        responses=answers(ScanRecord, 404),
    )
    def delete_scan(scan_id: str, owner: Owner) -> dict[str, Any]:
        return dump(service.delete_scan(scan_id, owner=owner))

    @router.post(
        "/scans/<scan_id>/cancel",
        operation_id="cancelScan",
        summary="Cancel a scan (its unfinished trials fail); harmless twice",
        tags=["scans"],
        responses=answers(ScanSummary, 404),
    )
    def cancel_scan(scan_id: str, owner: Owner) -> dict[str, Any]:
        service.cancel(scan_id, owner=owner)
        return summary(scan_id, owner)

    @router.post(
        "/scans/<scan_id>/status",
        operation_id="setScanStatus",
        summary="Mark a scan COMPLETED (done, paused) or RUNNING again",
        tags=["scans"],
        responses=answers(ScanSummary, 404, 409),
    )
    def set_scan_status(
        scan_id: str, body: Annotated[StatusBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        service.set_status(scan_id, body.status, owner=owner)
        return summary(scan_id, owner)

    @router.post(
        "/scans/<scan_id>/extend",
        operation_id="extendScan",
        summary="Raise max_run (a COMPLETED scan runs again)",
        tags=["scans"],
        responses=answers(ScanSummary, 404, 409),
    )
    def extend_scan(
        scan_id: str, body: Annotated[ExtendBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        service.extend(scan_id, body.max_run, owner=owner)
        return summary(scan_id, owner)

    return router
