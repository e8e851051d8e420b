"""Who is calling: the owner every use case is scoped to.

API Gateway puts the caller in ``requestContext``: a Lambda authorizer (scanfleet tokens;
the local server plays the same part) sets ``authorizer.principalId``; IAM auth (SigV4)
sets ``identity.userArn``. The API trusts whichever is there and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Request

from scanfleet.errors import UnauthorizedError


def identity_of(event: Mapping[str, Any]) -> str | None:
    """The caller's identity in an API Gateway REST proxy event, or None."""
    ctx = event.get("requestContext") or {}
    principal = (ctx.get("authorizer") or {}).get("principalId")
    if principal:
        return str(principal)
    user_arn = (ctx.get("identity") or {}).get("userArn")
    if user_arn:
        return str(user_arn)
    return None


def caller(request: Request) -> str:
    """The owner of this request (a route dependency).

    Raises:
        UnauthorizedError: the event carries no identity.
    """
    owner = identity_of(request.resolved_event.raw_event)
    if owner is None:
        raise UnauthorizedError("missing or invalid credentials")
    return owner


Owner = Annotated[str, Depends(caller)]
"""A route parameter typed ``Owner`` receives the caller's identity."""
