"""Errors of the SDK, in the openai-python shape.

``APIError`` is the root (a ``ScanfleetError``, so ``except ScanfleetError`` catches
everything scanfleet raises on purpose). ``APIStatusError`` means the API answered with an
error status; it has one subclass per status, and the status-to-class map lives in
``_make_status_error`` only. ``APIConnectionError``/``APITimeoutError`` mean no answer came.

Every error remembers how many requests were sent for the call (``attempts``), so code
that knows what a lost response means (e.g. ``Trial.complete``) can reconcile a retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanfleet.errors import ScanfleetError


class APIError(ScanfleetError):
    """Anything that went wrong talking to the scanfleet API."""

    code = "api_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.attempts = 1  # requests sent for this call, retries included


class APIConnectionError(APIError):
    """No answer: the server could not be reached or dropped the connection."""

    code = "connection_error"


class APITimeoutError(APIConnectionError):
    """No answer within the client's ``timeout``."""

    code = "timeout"


class APIResponseError(APIError):
    """A success status with a body that is not the JSON the API promises."""

    code = "invalid_response"


class APIStatusError(APIError):
    """The API answered with an error status.

    Attributes:
        status_code: the HTTP status (also ``status``).
        error_code: the API's stable error code, e.g. ``lease_lost`` (also ``code``).
        message: ``"<status> <code>: <the API's text>"`` (also ``str(error)``).
        api_message: the API's text alone.
        details: the error's ``details`` (e.g. the field paths of an invalid config).
        body: the whole parsed body (dict, or text when it was not JSON).
        headers: the response headers.
        retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        body: Any = None,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}", details=details)
        self.api_message = message
        self.status_code = status
        self.error_code = code
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})
        self.retry_after: float | None = None

    # ``code``/``status`` are class-level defaults on ScanfleetError; here they are what the
    # server said, so they are read from the instance.
    @property
    def code(self) -> str:  # type: ignore[override]
        return self.error_code

    @property
    def status(self) -> int:  # type: ignore[override]
        return self.status_code

    def __reduce__(self) -> Any:  # picklable (workers are processes), state included
        args = (self.status_code, self.error_code, self.api_message, self.body)
        return (type(self), args, dict(self.__dict__))


class BadRequestError(APIStatusError):
    """400: the request or the scan config is invalid (``details`` name the fields)."""


class AuthenticationError(APIStatusError):
    """401: missing or wrong token/credentials."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but not allowed to do this."""


class NotFoundError(APIStatusError):
    """404: no such scan or trial (or it belongs to another identity)."""


class ConflictError(APIStatusError):
    """409: the request contradicts the current state (``lease_lost``,
    ``trial_finished``, ``already_claimed``, ...)."""


class GoneError(APIStatusError):
    """410: the scan is finished; nothing more will be handed out."""


ScanFinishedError = GoneError


class UnprocessableEntityError(APIStatusError):
    """422: understood but not processable."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried after ``Retry-After``."""


class InternalServerError(APIStatusError):
    """5xx: the server failed; retried."""


def _make_status_error(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> APIStatusError:
    """The error for an error response: the one place statuses map to classes.

    ``body`` is the parsed JSON (``{"error": {"code", "message", "details"}}``) or the
    raw text when the answer was not JSON (a proxy's HTML page, say).
    """
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or f"http_{status}")
        message = str(error.get("message") or "")
        details = error.get("details")
    else:
        code, message, details = f"http_{status}", str(body or "")[:500], None
    cls: type[APIStatusError]
    if status == 400:
        cls = BadRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status == 410:
        cls = GoneError
    elif status == 422:
        cls = UnprocessableEntityError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = InternalServerError
    else:
        cls = APIStatusError
    return cls(status, code, message, body, details=details, headers=headers)
