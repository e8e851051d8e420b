"""The Lambda token authorizer's decision: a known bearer token gets an Allow policy for the
whole API with the token's owner id as principal (the same id the local server gives it),
anything else is refused.

Tokens live in a Secrets Manager secret, a JSON object whose values are tokens (the keys
are labels: ``{"default": "sf_...", "ci": "sf_..."}``); adding a key adds a token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from scanfleet.errors import UnauthorizedError
from scanfleet.tokens import is_known, owner_id


class TokenRejectedError(UnauthorizedError):
    """No token, or not a known one. API Gateway answers 401 when the authorizer raises
    with the message ``Unauthorized``."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def tokens_in_secret(secret_string: str) -> list[str]:
    """The tokens of the secret: every non-empty string value of its JSON object."""
    document = json.loads(secret_string)
    if not isinstance(document, dict):
        raise ValueError('the token secret must be a JSON object: {"label": "token", ...}')
    return [value for value in document.values() if isinstance(value, str) and value]


def authorize(authorization: str | None, method_arn: str, known: Iterable[str]) -> dict[str, Any]:
    """The authorizer response for ``Authorization: Bearer <token>`` on ``method_arn``.

    Raises:
        TokenRejectedError: no bearer token, or an unknown one.
    """
    token = _bearer(authorization)
    if token is None or not is_known(token, known):
        raise TokenRejectedError()
    return {
        "principalId": owner_id(token),
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
    }


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _whole_stage(method_arn: str) -> str:
    """``arn:...:api/stage/GET/scans`` → ``arn:...:api/stage/*/*``: API Gateway caches the
    decision per token, so it must cover every route, not just the first one called."""
    api, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{api}/{stage}/*/*"
