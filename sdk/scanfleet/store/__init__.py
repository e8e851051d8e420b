"""Trial stores: the contract and its implementations."""

from scanfleet.store._base import (
    InsertResult,
    LeaseLostError,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)
from scanfleet.store._sqlite import SQLiteTrialStore

__all__ = [
    "InsertResult",
    "LeaseLostError",
    "SQLiteTrialStore",
    "ScanNotFoundError",
    "TrialFinishedError",
    "TrialNotFoundError",
    "TrialStore",
]
