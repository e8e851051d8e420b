"""Error answers of the API turned back into the classes of ``scanfleet.errors``.

An error answer becomes the very class the service raised (``LeaseLostError`` for
``lease_lost``, a ``ConflictError``), found by its code in ``ERROR_CLASSES``, the one
table; a code this version does not know falls back to the class of its status, and a
status without one to ``APIStatusError``. ``APIConnectionError``/``APITimeoutError``
mean no answer came; ``APIResponseError`` an answer that is not the JSON promised.

Standard library only: the one coded class that lives with pydantic (``ConfigError``,
``invalid_config``, an answer of ``POST /scans`` alone) is imported when it is met.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from scanfleet.errors import (
    STATUS_ERRORS,
    AlreadyClaimedError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    InputsNotStoredError,
    InternalServerError,
    InvalidParamsError,
    InvalidValuesError,
    LeaseLostError,
    MethodNotAllowedError,
    NoBestTrialError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RunNotStartedError,
    ScanExistsError,
    ScanFinishedError,
    ScanNotExtendableError,
    ScanNotFoundError,
    StoreBusyError,
    TrialFinishedError,
    TrialNotFoundError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from scanfleet.names import ErrorCode, error_code_of

TYPE_CHECKING = False  # typing is not imported at run time: a script's path
if TYPE_CHECKING:
    from typing import Any


class ClientErrorCode(StrEnum):
    """Codes of the errors the SDK meets on its own (no answer of the API carries them)."""

    CONNECTION_ERROR = "connection_error"
    TIMEOUT = "timeout"
    INVALID_RESPONSE = "invalid_response"


class APIConnectionError(APIError):
    """No answer: the server could not be reached or dropped the connection."""

    code = ClientErrorCode.CONNECTION_ERROR


class APITimeoutError(APIConnectionError):
    """No answer within the client's ``timeout``."""

    code = ClientErrorCode.TIMEOUT


class APIResponseError(APIError):
    """A success status with a body that is not the JSON the API promises."""

    code = ClientErrorCode.INVALID_RESPONSE


_CODED: tuple[type[APIStatusError], ...] = (
    *STATUS_ERRORS,
    InvalidParamsError,
    InvalidValuesError,
    InputsNotStoredError,
    ScanNotFoundError,
    TrialNotFoundError,
    ScanExistsError,
    TrialFinishedError,
    LeaseLostError,
    AlreadyClaimedError,
    ScanNotExtendableError,
    NoBestTrialError,
    StoreBusyError,
    RunNotStartedError,
)

ERROR_CLASSES: dict[ErrorCode | str, type[APIStatusError]] = {cls.code: cls for cls in _CODED}
"""The one table: the class of each error code (each class knows its status), but for
``invalid_config``, whose class ``coded_class`` imports on demand."""

_BY_STATUS: dict[int, type[APIStatusError]] = {cls.status: cls for cls in STATUS_ERRORS}


def error_class(code: ErrorCode | str, status: int) -> type[APIStatusError]:
    """The class of an error answer: by its code, else by its status (any 5xx: the 500
    class), else ``APIStatusError``."""
    cls = coded_class(code)
    if cls is not None and cls.status == status:
        return cls
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)


def coded_class(code: ErrorCode | str) -> type[APIStatusError] | None:
    """The class of ``code``; None for a code this version does not know."""
    if code == ErrorCode.INVALID_CONFIG:
        from scanfleet.config import ConfigError  # pydantic: paid for only by this answer

        return ConfigError
    return ERROR_CLASSES.get(code)


def make_status_error(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> APIStatusError:
    """The error for an error answer.

    ``body`` is the parsed JSON (``{"error": {"code", "message", "details"}}``) or the
    raw text when the answer was not JSON (a proxy's HTML page, say).
    """
    error = body.get("error") if isinstance(body, dict) else None
    code: ErrorCode | str
    if isinstance(error, dict):
        code = error_code_of(str(error.get("code") or f"http_{status}"))
        message = str(error.get("message") or "")
        details = error.get("details")
    else:
        code, message, details = f"http_{status}", str(body or "")[:500], None
    cls = error_class(code, status)
    return cls.from_answer(status, code, message, details=details, body=body, headers=headers)


__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientErrorCode",
    "ConflictError",
    "ERROR_CLASSES",
    "GoneError",
    "InternalServerError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ScanFinishedError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "coded_class",
    "error_class",
    "make_status_error",
]
