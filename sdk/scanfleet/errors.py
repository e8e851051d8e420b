"""The root of every error scanfleet raises on purpose.

Each subclass sits beside the code that raises it and carries its wire meaning: a
stable ``code`` (what a program matches on) and an HTTP ``status``. The API maps them
to responses in one place (``scanfleet.api``); the SDK maps statuses back to classes.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ScanfleetError(Exception):
    """Base class. ``code`` and ``status`` say what the error means on the wire."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class NotFoundError(ScanfleetError):
    """The scan or trial does not exist (or belongs to someone else)."""

    code = "not_found"
    status = 404


class ConflictError(ScanfleetError):
    """The request contradicts the current state (e.g. completing a finished trial)."""

    code = "conflict"
    status = 409


class InvalidRequestError(ScanfleetError):
    """The request is malformed in a way the schema could not catch."""

    code = "invalid_request"
    status = 400
