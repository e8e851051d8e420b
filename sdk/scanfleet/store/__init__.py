"""Trial stores: the contract and its implementations.

``DynamoDBTrialStore`` imports boto3 only when it is built without a client, so importing
this package never imports boto3.
"""

from scanfleet.store._base import (
    InsertResult,
    LeaseLostError,
    ScanExistsError,
    ScanNotFoundError,
    TrialChanges,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)
from scanfleet.store._dynamodb import DynamoDBTrialStore, StoreBusyError
from scanfleet.store._sqlite import SQLiteTrialStore
from scanfleet.store._sqlite_integrity import ACCEPT_LOSS_ENV, StoreDamagedError
from scanfleet.store.dynamodb_layout import LAYOUT, TableLayout, create_table

__all__ = [
    "ACCEPT_LOSS_ENV",
    "LAYOUT",
    "DynamoDBTrialStore",
    "InsertResult",
    "LeaseLostError",
    "SQLiteTrialStore",
    "ScanExistsError",
    "ScanNotFoundError",
    "StoreBusyError",
    "StoreDamagedError",
    "TableLayout",
    "TrialChanges",
    "TrialFinishedError",
    "TrialNotFoundError",
    "TrialStore",
    "create_table",
]
