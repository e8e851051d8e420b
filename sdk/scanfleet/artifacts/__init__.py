"""The object store: checkpoint folders (upload, download, copy, manifest) in a local
folder or S3, and downloads of stored objects. It imports nothing of scanfleet above
the bottom floor; boto3 is imported only when no client is injected."""

from scanfleet.artifacts._base import (
    MANIFEST,
    STORE_SCHEMES,
    ArtifactError,
    CheckpointError,
    CheckpointStore,
    ObjectsNotFoundError,
    child_location,
)
from scanfleet.artifacts._copy import CheckpointCopier, checkpoint_store
from scanfleet.artifacts._local import LocalCheckpointStore
from scanfleet.artifacts._s3 import S3CheckpointStore, download_objects

__all__ = [
    "MANIFEST",
    "STORE_SCHEMES",
    "ArtifactError",
    "CheckpointCopier",
    "CheckpointError",
    "CheckpointStore",
    "LocalCheckpointStore",
    "ObjectsNotFoundError",
    "S3CheckpointStore",
    "checkpoint_store",
    "child_location",
    "download_objects",
]
