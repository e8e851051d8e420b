"""Routes of what a search yields: the best trials (the Pareto front), seed runs of the
best parameters, and tags on trials."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import Router

from scanfleet.api._identity import Owner
from scanfleet.api._models import (
    ScanSummary,
    SeedsBody,
    TagsBody,
    TrialList,
    answers,
    check_merged_tags,
    dump,
)
from scanfleet.records import TrialRecord
from scanfleet.service import ScanService


def search_router(service: ScanService) -> Router:
    router = Router()

    @router.get(
        "/scans/<scan_id>/best-trials",
        operation_id="getBestTrials",
        summary="The best trials: the Pareto front of the scan's metrics (one metric: the best)",
        tags=["scans"],
        responses=answers(TrialList, 404),
    )
    def best_trials(scan_id: str, owner: Owner) -> dict[str, Any]:
        return {"trials": [dump(t) for t in service.best_trials(scan_id, owner=owner)]}

    @router.post(
        "/scans/<scan_id>/seeds",
        operation_id="gatherSeeds",
        summary="Run the best parameters again with seeds 0..n-1 (a COMPLETED scan runs again)",
        tags=["scans"],
        responses=answers(ScanSummary, 404, 409),
    )
    def gather_seeds(
        scan_id: str, body: Annotated[SeedsBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        service.gather_seeds(scan_id, body.n, owner=owner)
        return dump(service.summarize(scan_id, owner=owner))

    @router.post(
        "/trials/<trial_id>/tags",
        operation_id="tagTrial",
        summary="Merge tags into a trial (finished trials too; at most 50 in all)",
        tags=["trials"],
        responses=answers(TrialRecord, 404),
    )
    def tag_trial(trial_id: str, body: Annotated[TagsBody, Body()], owner: Owner) -> dict[str, Any]:
        trial = service.get_trial(trial_id, owner=owner)
        check_merged_tags(trial.tags, body.tags, trial.params)
        return dump(service.tag_trial(trial_id, body.tags, owner=owner))

    return router
