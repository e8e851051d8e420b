"""Errors of the SDK. The status-to-class map lives in ``make_status_error`` only."""

from __future__ import annotations

from typing import Any

from scanfleet.errors import ScanfleetError


class APIError(ScanfleetError):
    """Anything that went wrong talking to the scanfleet API."""

    code = "api_error"


class APIConnectionError(APIError):
    code = "connection_error"


class APITimeoutError(APIConnectionError):
    code = "timeout"


class APIStatusError(APIError):
    """The API answered with an error status. ``code`` is the API's stable error code."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}", details=body)
        self.status_code = status
        self.error_code = code
        self.body = body
        self.retry_after: float | None = None  # seconds, from a Retry-After header

    @property
    def status(self) -> int:  # type: ignore[override]
        return self.status_code


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class GoneError(APIStatusError):
    """410: the scan is finished; nothing more will be handed out."""


ScanFinishedError = GoneError


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def make_status_error(status: int, body: Any) -> APIStatusError:
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code")) if isinstance(error, dict) else f"http_{status}"
    message = str(error.get("message")) if isinstance(error, dict) else str(body)[:500]
    if status >= 500:
        cls: type[APIStatusError] = InternalServerError
    else:
        cls = _BY_STATUS.get(status, APIStatusError)
    return cls(status, code, message, body)
