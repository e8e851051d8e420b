"""Errors of the SDK: the classes of ``scanfleet.errors``, rebuilt from the API's answers
by ``scanfleet.transport.answers`` (standard library, shared with the trial-side path).

``ERROR_CLASSES`` here is the whole table: the transport's, plus ``ConfigError`` (which
lives with the config's pydantic schema and which the transport imports when met).
"""

from __future__ import annotations

from scanfleet.config import ConfigError
from scanfleet.errors import (
    AlreadyClaimedError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    InternalServerError,
    LeaseLostError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ScanFinishedError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from scanfleet.names import ErrorCode
from scanfleet.transport import answers
from scanfleet.transport.answers import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    ClientErrorCode,
    error_class,
    make_status_error,
)

ERROR_CLASSES: dict[ErrorCode | str, type[APIStatusError]] = {
    **answers.ERROR_CLASSES,
    ConfigError.code: ConfigError,
}
"""The class of each error code (each class knows its status)."""

_make_status_error = make_status_error  # its name before the transport moved down

__all__ = [
    "ERROR_CLASSES",
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AlreadyClaimedError",
    "AuthenticationError",
    "BadRequestError",
    "ClientErrorCode",
    "ConflictError",
    "GoneError",
    "InternalServerError",
    "LeaseLostError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ScanFinishedError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "error_class",
]
