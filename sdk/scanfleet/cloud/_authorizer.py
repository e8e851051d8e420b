"""The Lambda token authorizer's decision: a known bearer token gets an Allow policy for the
whole API, with the token's owner id as principal (the same id the local server gives it)
and its tenant in the context; a valid per-trial worker token (``sft_...``, checked by its
MAC: no store read) gets the same policy with its trial in the context (the API lets it
reach that trial's routes only); anything else is refused.

Tokens live in a Secrets Manager secret, a JSON object whose values are tokens (the keys
are labels: ``{"default": "sf_...", "ci": "sf_..."}``), or ``{"token": "sf_...", "tenant":
"team-a"}`` for a token of a named tenant; adding a key adds a token. The stack's
``default`` token belongs to the stack's account (the tenant its job role maps to by
default); any other token without a tenant is a tenant of its own (its owner id). The
``default`` token also keys the worker tokens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scanfleet.errors import UnauthorizedError
from scanfleet.tenancy import (
    TenancyError,
    TenantMap,
    account_of,
    is_trial_token,
    trial_token_key,
    verify_trial_token,
)
from scanfleet.tokens import is_known, owner_id

DEFAULT_LABEL = "default"  # the stack's token (infra.api.TOKEN_KEY)


class TokenRejectedError(UnauthorizedError):
    """No token, or not a known one. API Gateway answers 401 when the authorizer raises
    with the message ``Unauthorized``."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@dataclass(frozen=True)
class SecretTokens:
    """The tokens of the secret with their tenants (None: not named), and the default one."""

    tenants: dict[str, str | None]
    default: str | None = None

    @property
    def trial_key(self) -> bytes | None:
        return trial_token_key(self.default) if self.default else None


def read_secret(secret_string: str) -> SecretTokens:
    """The tokens of the secret: every non-empty string value of its JSON object, and every
    ``{"token", "tenant"}`` value.

    Raises:
        ValueError: not a JSON object, or a tenant that is not a valid name (naming its label).
    """
    document = json.loads(secret_string)
    if not isinstance(document, dict):
        raise ValueError('the token secret must be a JSON object: {"label": "token", ...}')
    tenants: dict[str, str | None] = {}
    for label, value in document.items():
        token, tenant = value, None
        if isinstance(value, dict):
            token, tenant = value.get("token"), value.get("tenant")
            try:
                TenantMap.parse(json.dumps({"*": tenant}), setting=f"secret[{label!r}].tenant")
            except TenancyError as err:
                raise ValueError(str(err)) from err
        if isinstance(token, str) and token:
            tenants[token] = tenant
    default = document.get(DEFAULT_LABEL)
    default = default.get("token") if isinstance(default, dict) else default
    return SecretTokens(tenants, default if isinstance(default, str) and default else None)


def tokens_in_secret(secret_string: str) -> list[str]:
    """The tokens of the secret (:func:`read_secret`, without their tenants)."""
    return list(read_secret(secret_string).tenants)


def authorize(
    authorization: str | None,
    method_arn: str,
    known: Iterable[str] | SecretTokens,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The authorizer response for ``Authorization: Bearer <token>`` on ``method_arn``.

    Raises:
        TokenRejectedError: no bearer token, an unknown one, or a worker token that is
            forged or expired.
    """
    secret = known if isinstance(known, SecretTokens) else SecretTokens(dict.fromkeys(known))
    token = _bearer(authorization)
    if token is None:
        raise TokenRejectedError()
    if is_trial_token(token):
        key = secret.trial_key
        grant = None if key is None else verify_trial_token(key, token, now=_now(now))
        if grant is None:
            raise TokenRejectedError()
        context = {"trial": grant.trial_id, "attempt": grant.attempt}
        return _allow(str(grant), method_arn, context)
    if not is_known(token, secret.tenants):
        raise TokenRejectedError()
    owner = owner_id(token)
    tenant = secret.tenants.get(token)
    if tenant is None and token == secret.default:
        tenant = account_of(method_arn)
    return _allow(owner, method_arn, {"tenant": tenant or owner, "former": owner})


def _allow(principal: str, method_arn: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": _whole_stage(method_arn),
                }
            ],
        },
        "context": context,  # API Gateway passes it as requestContext.authorizer.<key>
    }


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _whole_stage(method_arn: str) -> str:
    """``arn:...:api/stage/GET/scans`` → ``arn:...:api/stage/*/*``: API Gateway caches the
    decision per token, so it must cover every route, not just the first one called."""
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{api}/{stage}/*/*"
