"""How requests prove who sends them: a scanfleet bearer token, or IAM SigV4.

SigV4 needs botocore, imported only when ``auth="iam"`` is chosen, so a notebook or a
training container without boto can use tokens.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from urllib.parse import urlsplit

from scanfleet.names import ENV_AUTH, HEADER_AUTHORIZATION

TYPE_CHECKING = False  # typing is not imported at run time: a script's path
if TYPE_CHECKING:
    from typing import Any

AUTH_TOKEN = "token"
AUTH_IAM = "iam"
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class Auth(ABC):
    """Adds credentials to one request. Called for every attempt (signatures are dated)."""

    @abstractmethod
    def sign(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> dict[str, str]:
        """Returns the headers to send: ``headers`` plus the credentials."""


class TokenAuth(Auth):
    """``Authorization: Bearer <token>``; no header at all without a token."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def sign(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> dict[str, str]:
        if not self.token:
            return headers
        return {**headers, HEADER_AUTHORIZATION: f"Bearer {self.token}"}


class SigV4Auth(Auth):
    """AWS Signature V4 for API Gateway (``execute-api``) with the default credential chain.

    Args:
        region: the API's region; default: from the URL (``*.execute-api.<region>...``),
            then ``AWS_REGION``/``AWS_DEFAULT_REGION``, then the botocore profile.
        session: a ``botocore.session.Session`` (injected in tests); default: a new one.
    """

    def __init__(
        self, url: str, *, region: str | None = None, session: Any = None, service: str = ""
    ) -> None:
        try:
            import botocore.session
        except ImportError:
            raise ImportError(
                "auth='iam' signs requests with botocore, which is not installed: "
                "pip install botocore (or pip install 'scanfleet[server]')"
            ) from None
        self._session = session or botocore.session.get_session()
        self.service = service or "execute-api"
        found = region or _region_from_url(url) or _region_from_env(os.environ)
        found = found or self._session.get_config_variable("region")
        if not found:
            raise ValueError(
                "auth='iam' needs the API's region: use an execute-api URL, or set AWS_REGION"
            )
        self.region: str = found
        self._credentials()

    def _credentials(self) -> Any:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise ValueError("auth='iam' found no AWS credentials (environment, profile, role)")
        return credentials.get_frozen_credentials()

    def sign(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> dict[str, str]:
        from botocore.auth import SigV4Auth as BotoSigV4
        from botocore.awsrequest import AWSRequest

        credentials = self._credentials()
        request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
        BotoSigV4(credentials, self.service, self.region).add_auth(request)
        return dict(request.headers.items())


def auth_for(url: str, *, auth: str | None, token: str | None, env: Mapping[str, str]) -> Auth:
    """The Auth a Client uses: argument, then ``SCANFLEET_AUTH``, then token auth."""
    kind = (auth or env.get(ENV_AUTH) or AUTH_TOKEN).strip().lower()
    if kind == AUTH_TOKEN:
        return TokenAuth(token)
    if kind == AUTH_IAM:
        return SigV4Auth(url)
    raise ValueError(f"unknown auth {kind!r}: use {AUTH_TOKEN!r} or {AUTH_IAM!r} ({ENV_AUTH})")


def _region_from_url(url: str) -> str | None:
    match = _EXECUTE_API_HOST.search(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def _region_from_env(env: Mapping[str, str]) -> str | None:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
