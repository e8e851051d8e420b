"""The one error tree of scanfleet: what the service raises is what the SDK raises.

Every class that can cross the wire carries its ``code`` (a ``scanfleet.wire.ErrorCode``,
each code the code of exactly one class) and its HTTP ``status``. The API maps them to
answers in one place (``scanfleet.api``); the SDK turns an answer back into the same class
(``scanfleet.client``: code first, status for a code it does not know), so
``except LeaseLostError`` means the same in-process and over HTTP.

::

    ScanfleetError                          root: code, status, message, details
    └── APIError                            answered by the API, or met talking to it
        ├── APIStatusError                  answered with an error status
        │   ├── InvalidRequestError 400     (BadRequestError) ← InvalidParamsError, ...
        │   ├── UnauthorizedError 401       (AuthenticationError)
        │   ├── PermissionDeniedError 403
        │   ├── NotFoundError 404           ← ScanNotFoundError, TrialNotFoundError
        │   ├── MethodNotAllowedError 405
        │   ├── ConflictError 409           ← LeaseLostError, TrialFinishedError, ...
        │   ├── ScanFinishedError 410       (GoneError)
        │   ├── PayloadTooLargeError 413, UnsupportedMediaTypeError 415,
        │   │   UnprocessableEntityError 422, RateLimitError 429
        │   └── InternalServerError 500     ← StoreBusyError 503, RunNotStartedError 502
        └── (the SDK's own: APIConnectionError, APITimeoutError, APIResponseError)

``scanfleet.config.ConfigError`` (``invalid_config``) is an ``InvalidRequestError`` too.
"""

from __future__ import annotations

from collections.abc import Mapping

from scanfleet.names import ErrorCode

TYPE_CHECKING = False  # typing is not imported at run time: a script's path
if TYPE_CHECKING:
    from typing import Any


class ScanfleetError(Exception):
    """Base class of every error scanfleet raises on purpose.

    ``code`` and ``status`` say what the error means on the wire. A class gives them; an
    error the SDK rebuilt from an answer keeps what the server said (a code this version
    does not know stays a plain string).
    """

    code: ErrorCode | str = ErrorCode.INTERNAL_ERROR
    status: int = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.api_message = message  # the text alone (the SDK's message adds status and code)
        self.details = details

    @property
    def status_code(self) -> int:
        """The HTTP status (also ``status``)."""
        return self.status

    @property
    def error_code(self) -> ErrorCode | str:
        """The stable code, e.g. ``ErrorCode.LEASE_LOST`` (also ``code``)."""
        return self.code

    def __reduce__(self) -> Any:  # picklable (workers are processes), whatever __init__ takes
        return (_rebuild, (type(self), dict(self.__dict__)))


def _rebuild(cls: type[ScanfleetError], state: dict[str, Any]) -> ScanfleetError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class APIError(ScanfleetError):
    """Anything the scanfleet API answers as an error, or that went wrong talking to it.

    ``attempts``: requests sent for the call, retries included (1 outside the SDK), so code
    that knows what a lost answer means (e.g. ``Trial.complete``) can reconcile a retry.
    """

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.attempts = 1


class APIStatusError(APIError):
    """An error the API answers with its status and code.

    Raised by the service with a message for people; rebuilt by the SDK from the answer
    with ``from_answer``, and then also carrying:

    Attributes:
        message: ``"<status> <code>: <the API's text>"`` (also ``str(error)``).
        api_message: the API's text alone.
        details: the error's ``details`` (e.g. the field paths of an invalid config).
        body: the whole parsed body (dict, or text when it was not JSON).
        headers: the response headers.
        retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.body: Any = None
        self.headers: dict[str, str] = {}
        self.retry_after: float | None = None

    @classmethod
    def from_answer(
        cls,
        status: int,
        code: ErrorCode | str,
        message: str,
        *,
        details: Any = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> APIStatusError:
        """The error as the API answered it (``__init__`` of a subclass is not called: its
        arguments are the raiser's, not the wire's)."""
        error = cls.__new__(cls)
        APIStatusError.__init__(error, f"{status} {code}: {message}", details=details)
        error.api_message = message
        error.status = status
        error.code = code
        error.body = body
        error.headers = dict(headers or {})
        return error


# ---- one class per status (the SDK's fallback for a code it does not know) -------------------


class InvalidRequestError(APIStatusError):
    """400: the request is invalid (``details`` name the fields)."""

    code = ErrorCode.INVALID_REQUEST
    status = 400


class UnauthorizedError(APIStatusError):
    """401: the request carries no identity, or credentials that are not valid."""

    code = ErrorCode.UNAUTHORIZED
    status = 401


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but not allowed to do this (API Gateway's IAM)."""

    code = ErrorCode.FORBIDDEN
    status = 403


class NotFoundError(APIStatusError):
    """404: no such route, scan or trial (or it belongs to someone else)."""

    code = ErrorCode.NOT_FOUND
    status = 404


class MethodNotAllowedError(APIStatusError):
    """405: the route exists, not with this method (``details.allowed``)."""

    code = ErrorCode.METHOD_NOT_ALLOWED
    status = 405


class ConflictError(APIStatusError):
    """409: the request contradicts the current state (``lease_lost``, ``trial_finished``,
    ``already_claimed``, ...). An answer, not an accident: never retried."""

    code = ErrorCode.CONFLICT
    status = 409


class ScanFinishedError(APIStatusError):
    """410: the scan is COMPLETED, FAILED or CANCELLED: nothing more will be handed out."""

    code = ErrorCode.SCAN_FINISHED
    status = 410


class PayloadTooLargeError(APIStatusError):
    """413: the body is larger than the API takes."""

    code = ErrorCode.PAYLOAD_TOO_LARGE
    status = 413


class UnsupportedMediaTypeError(APIStatusError):
    """415: the body is not JSON."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    status = 415


class UnprocessableEntityError(APIStatusError):
    """422: understood but not processable."""

    code = ErrorCode.UNPROCESSABLE
    status = 422


class RateLimitError(APIStatusError):
    """429: too many requests; the SDK retries after ``Retry-After``."""

    code = ErrorCode.RATE_LIMITED
    status = 429


class InternalServerError(APIStatusError):
    """5xx: the server failed; the SDK retries."""

    code = ErrorCode.INTERNAL_ERROR
    status = 500


# The SDK's names of the same classes (openai-python's).
BadRequestError = InvalidRequestError
AuthenticationError = UnauthorizedError
GoneError = ScanFinishedError

STATUS_ERRORS: tuple[type[APIStatusError], ...] = (
    InvalidRequestError,
    UnauthorizedError,
    PermissionDeniedError,
    NotFoundError,
    MethodNotAllowedError,
    ConflictError,
    ScanFinishedError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    UnprocessableEntityError,
    RateLimitError,
    InternalServerError,
)


# ---- the errors of the use cases -----------------------------------------------------------


class InvalidParamsError(InvalidRequestError):
    """The params of a trial do not fit the scan's parameters."""

    code = ErrorCode.INVALID_PARAMS


class InvalidValuesError(InvalidRequestError):
    """The values of a completed trial miss the scan's metric or are not finite numbers."""

    code = ErrorCode.INVALID_VALUES


class InputsNotStoredError(InvalidRequestError):
    """This API has nowhere to keep uploaded files."""

    code = ErrorCode.INPUTS_NOT_STORED


class ScanNotFoundError(NotFoundError):
    code = ErrorCode.SCAN_NOT_FOUND


class TrialNotFoundError(NotFoundError):
    code = ErrorCode.TRIAL_NOT_FOUND


class ScanExistsError(ConflictError):
    """A scan with this ``scan_id`` exists already (and is not the one the client token
    names)."""

    code = ErrorCode.SCAN_EXISTS


class TrialFinishedError(ConflictError):
    """The trial is COMPLETED, PRUNED or FAILED and can no longer change."""

    code = ErrorCode.TRIAL_FINISHED


class LeaseLostError(ConflictError):
    """The caller no longer holds the trial: its lease ran out or another attempt took it."""

    code = ErrorCode.LEASE_LOST


class AlreadyClaimedError(ConflictError):
    """Another worker holds the trial this worker asked for by id."""

    code = ErrorCode.ALREADY_CLAIMED


class ScanNotExtendableError(ConflictError):
    """The scan was cancelled or failed: it cannot run again."""

    code = ErrorCode.SCAN_NOT_EXTENDABLE


class NoBestTrialError(ConflictError):
    """The scan has no completed trial yet (nothing to gather seeds for)."""

    code = ErrorCode.NO_BEST_TRIAL


class StoreBusyError(InternalServerError):
    """So many writers raced for one item that this call gave up; retry it later."""

    code = ErrorCode.STORE_BUSY
    status = 503


class RunNotStartedError(InternalServerError):
    """AWS refused to start the run of a remote scan (its state machine execution): the
    message says what AWS answered; the scan is marked FAILED with it."""

    code = ErrorCode.RUN_NOT_STARTED
    status = 502
