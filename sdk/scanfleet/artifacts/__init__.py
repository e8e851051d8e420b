"""The object store, in a local folder or S3: checkpoint folders (upload, download, copy,
manifest), the files uploaded with a scan (input stores), and downloads of stored
objects. It imports nothing of scanfleet above the bottom floor; boto3 is imported only
when no client is injected."""

from scanfleet.artifacts._base import (
    MANIFEST,
    STORE_SCHEMES,
    ArtifactError,
    CheckpointError,
    CheckpointStore,
    ObjectsNotFoundError,
    child_location,
)
from scanfleet.artifacts._containment import (
    CheckpointLocations,
    LocationError,
    contained_name,
    contained_path,
)
from scanfleet.artifacts._copy import CheckpointCopier, checkpoint_store
from scanfleet.artifacts._inputs import InputStore, LocalInputStore, S3InputStore
from scanfleet.artifacts._local import LocalCheckpointStore
from scanfleet.artifacts._s3 import S3CheckpointStore, download_objects

__all__ = [
    "MANIFEST",
    "STORE_SCHEMES",
    "ArtifactError",
    "CheckpointCopier",
    "CheckpointError",
    "CheckpointLocations",
    "CheckpointStore",
    "InputStore",
    "LocalCheckpointStore",
    "LocalInputStore",
    "LocationError",
    "ObjectsNotFoundError",
    "S3CheckpointStore",
    "S3InputStore",
    "checkpoint_store",
    "child_location",
    "contained_name",
    "contained_path",
    "download_objects",
]
