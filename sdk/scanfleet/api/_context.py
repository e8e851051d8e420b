"""Who is calling."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import Router

from scanfleet.errors import ScanfleetError


class UnauthorizedError(ScanfleetError):
    code = "unauthorized"
    status = 401


def owner_of(router: Router) -> str:
    """The caller's identity: the authorizer's principal (scanfleet token, or the local
    server), else the IAM caller (SigV4)."""
    ctx: dict[str, Any] = router.current_event.raw_event.get("requestContext") or {}
    principal = (ctx.get("authorizer") or {}).get("principalId")
    if principal:
        return str(principal)
    user_arn = (ctx.get("identity") or {}).get("userArn")
    if user_arn:
        return str(user_arn)
    raise UnauthorizedError("missing or invalid credentials")
