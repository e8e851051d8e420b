"""The route that gives a running trial's worker a per-trial worker token for its script
(``scanfleet.tenancy``: ``sft_<trial>.<attempt>.<expiry>.<mac>``): it reaches that trial's
own routes only (read, heartbeat, reports, checkpoints, complete, prune, fail), and ends
when the attempt does (finished, failed, re-queued) or at its expiry, whichever is first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import Router
from pydantic import BaseModel, ConfigDict, Field

from scanfleet.api._identity import Owner
from scanfleet.api._models import Attempt, WorkerId, answers
from scanfleet.errors import LeaseLostError, PermissionDeniedError
from scanfleet.records import TrialState
from scanfleet.service import ScanService
from scanfleet.tenancy import TrialGrant, mint_trial_token

DEFAULT_TTL_S = 48 * 3600
MAX_TTL_S = 7 * 24 * 3600

TrialKey = Callable[[], bytes | None]
"""The key worker tokens are signed with (None: this API gives none)."""


class WorkerTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    worker_id: WorkerId
    attempt: Attempt
    ttl_seconds: int = Field(DEFAULT_TTL_S, ge=60, le=MAX_TTL_S)


class WorkerToken(BaseModel):
    token: str
    trial_id: str
    attempt: int
    expires_at: float = Field(description="epoch seconds; the token ends sooner with its attempt")


def worker_tokens_router(service: ScanService, trial_key: TrialKey | None) -> Router:
    router = Router()

    @router.post(
        "/trials/<trial_id>/worker-token",
        operation_id="createWorkerToken",
        summary="A token for the script of this running attempt, good for this trial only",
        tags=["trials"],
        responses=answers(WorkerToken, 403, 404, 409),
    )
    def create_worker_token(
        trial_id: str, body: Annotated[WorkerTokenBody, Body()], owner: Owner
    ) -> dict[str, Any]:
        if isinstance(owner, TrialGrant):
            raise PermissionDeniedError("a worker token cannot make worker tokens")
        key = trial_key() if trial_key is not None else None
        if key is None:
            raise PermissionDeniedError("this API gives no worker tokens (no token secret)")
        trial = service.get_trial(trial_id, owner=owner)
        held = trial.state is TrialState.RUNNING and trial.attempt == body.attempt
        if not held or trial.worker_id != body.worker_id:
            raise LeaseLostError(
                f"trial {trial_id} attempt {body.attempt} is not running on {body.worker_id}"
            )
        expires_at = int(service.context.now()) + body.ttl_seconds
        token = mint_trial_token(key, trial_id, body.attempt, expires_at)
        answer = WorkerToken(
            token=token, trial_id=trial_id, attempt=body.attempt, expires_at=expires_at
        )
        return answer.model_dump(mode="json")

    return router
