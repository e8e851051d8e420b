"""Who is calling: the tenant every use case is scoped to (``scanfleet.tenancy``).

API Gateway puts the caller in ``requestContext``: the token authorizer (scanfleet tokens;
the local server plays the same part) answers ``principalId`` with ``tenant`` (and
``former``, or ``trial`` and ``attempt`` for a per-trial worker token) in its context,
which API Gateway passes as ``authorizer.*``; IAM auth (SigV4) sets ``identity.userArn``,
which the tenant mapping (``SCANFLEET_TENANTS``, default: the ARN's account) turns into a
tenant. The API trusts whichever is there and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Request

from scanfleet.errors import InternalServerError, PermissionDeniedError, UnauthorizedError
from scanfleet.tenancy import ENV_TENANTS, TenancyError, Tenant, TenantMap, TrialGrant

# what a per-trial worker token may call (on its own trial only)
TRIAL_ROUTES = frozenset(
    {
        ("GET", "/trials/{trial_id}"),
        *(
            ("POST", f"/trials/{{trial_id}}/{action}")
            for action in (
                "heartbeat",
                "reports",
                "checkpoints",
                "tags",
                "complete",
                "prune",
                "fail",
            )
        ),
    }
)
_maps: dict[str, TenantMap] = {}


def tenant_map() -> TenantMap:
    """The mapping of ``SCANFLEET_TENANTS`` (parsed once per value).

    Raises:
        InternalServerError: the setting is not valid (the message names it).
    """
    text = os.environ.get(ENV_TENANTS, "")
    if text not in _maps:
        try:
            _maps[text] = TenantMap.parse(text)
        except TenancyError as err:
            raise InternalServerError(f"the API's tenant mapping is broken: {err}") from err
    return _maps[text]


def identity_of(event: Mapping[str, Any]) -> str | None:
    """The caller's identity in an API Gateway REST proxy event (an authorizer's principal
    or an IAM ARN), or None."""
    ctx = event.get("requestContext") or {}
    principal = (ctx.get("authorizer") or {}).get("principalId")
    if principal:
        return str(principal)
    user_arn = (ctx.get("identity") or {}).get("userArn")
    if user_arn:
        return str(user_arn)
    return None


def tenant_of(event: Mapping[str, Any], tenants: TenantMap) -> Tenant | TrialGrant | None:
    """The caller as a tenant (or a trial grant); None: no identity at all.

    Raises:
        PermissionDeniedError: an IAM identity the mapping gives no tenant.
    """
    ctx = event.get("requestContext") or {}
    authorizer = ctx.get("authorizer") or {}
    if authorizer.get("principalId"):
        if authorizer.get("trial"):
            return TrialGrant(str(authorizer["trial"]), int(authorizer.get("attempt") or 0))
        tenant = authorizer.get("tenant") or authorizer["principalId"]  # an older authorizer
        return Tenant(str(tenant), former=authorizer.get("former") or None)
    user_arn = (ctx.get("identity") or {}).get("userArn")
    if not user_arn:
        return None
    tenant = tenants.tenant_of(str(user_arn))
    if tenant is None:
        raise PermissionDeniedError(
            f"{user_arn} maps to no scanfleet tenant: ask whoever deployed the stack to map it "
            f"in the tenant mapping ({ENV_TENANTS}, context key tenants; docs/cloud.md, Tenancy)"
        )
    return Tenant(tenant)


def caller(request: Request) -> str:
    """The tenant of this request (a route dependency). A per-trial worker token reaches
    only its own trial's routes.

    Raises:
        UnauthorizedError: the event carries no identity.
        PermissionDeniedError: an unmapped identity; a worker token outside its trial.
    """
    who = tenant_of(request.resolved_event.raw_event, tenant_map())
    if who is None:
        raise UnauthorizedError("missing or invalid credentials")
    if isinstance(who, TrialGrant):
        check_trial_route(who, request.method, request.route, request.path_parameters)
    return who


def check_trial_route(
    grant: TrialGrant, method: str, route: str, path_parameters: Mapping[str, Any]
) -> None:
    """Raises PermissionDeniedError unless ``method route`` is one a worker token may call,
    on its own trial."""
    if (method.upper(), route) not in TRIAL_ROUTES:
        raise PermissionDeniedError(
            f"a worker token of trial {grant.trial_id} may only read and report on that trial"
            f" (heartbeat, reports, checkpoints, tags, complete, prune, fail), not {method} {route}"
        )
    if path_parameters.get("trial_id") != grant.trial_id:
        raise PermissionDeniedError(f"this worker token is for trial {grant.trial_id} only")


Owner = Annotated[str, Depends(caller)]
"""A route parameter typed ``Owner`` receives the caller's tenant (a ``Tenant`` or a
``TrialGrant``, both strings)."""
