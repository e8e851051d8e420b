"""The service's errors live in ``scanfleet.errors`` (the SDK raises the same classes);
this module only keeps the service's modules importing them from here working."""

from scanfleet.errors import (
    InputsNotStoredError,
    InvalidParamsError,
    InvalidValuesError,
    NoBestTrialError,
    ScanFinishedError,
    ScanNotExtendableError,
)

ScanCancelledConflictError = ScanNotExtendableError  # the service's name for it

__all__ = [
    "InputsNotStoredError",
    "InvalidParamsError",
    "InvalidValuesError",
    "NoBestTrialError",
    "ScanCancelledConflictError",
    "ScanFinishedError",
    "ScanNotExtendableError",
]
