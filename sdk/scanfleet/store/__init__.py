"""Trial stores: the contract and its implementations."""

from scanfleet.store._base import (
    InsertResult,
    LeaseLostError,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)
from scanfleet.store._dynamodb import DynamoDBTrialStore
from scanfleet.store._dynamodb_layout import create_table
from scanfleet.store._sqlite import SQLiteTrialStore

__all__ = [
    "DynamoDBTrialStore",
    "InsertResult",
    "LeaseLostError",
    "SQLiteTrialStore",
    "ScanNotFoundError",
    "TrialFinishedError",
    "TrialNotFoundError",
    "TrialStore",
    "create_table",
]
