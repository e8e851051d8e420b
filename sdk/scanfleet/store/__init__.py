"""Trial stores: the contract and its implementations."""

from scanfleet.store._base import (
    InsertResult,
    LeaseLostError,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)

__all__ = [
    "InsertResult",
    "LeaseLostError",
    "ScanNotFoundError",
    "TrialFinishedError",
    "TrialNotFoundError",
    "TrialStore",
]
