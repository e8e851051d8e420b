"""Choosing a checkpoint store by URI, and copying a parent's checkpoint for a child
(population-based training: a member that exploits starts from a copy of a top member's
checkpoint, never from the files the top member goes on writing to).

:class:`CheckpointCopier` is what the service's artifact-copy port is given by default;
local folders and S3 share one layout and one rule for where a child's copy goes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scanfleet.artifacts._base import CheckpointStore, local_path
from scanfleet.artifacts._containment import CheckpointLocations
from scanfleet.artifacts._local import LocalCheckpointStore
from scanfleet.artifacts._s3 import S3CheckpointStore, s3_client


def checkpoint_store(url: str, *, s3_client: Any = None) -> CheckpointStore:
    """The store for a base URL or a checkpoint URI: ``s3://bucket/prefix`` or a folder
    (a path or ``file://``).

    Raises:
        ValueError: a URL of another scheme, or an ``s3://`` URL without a bucket.
    """
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"checkpoint URL {url!r} names no bucket (s3://bucket/prefix)")
        return S3CheckpointStore(parts.netloc, parts.path, client=s3_client)
    if parts.scheme in ("", "file"):
        return LocalCheckpointStore(local_path(url))
    raise ValueError(f"checkpoint URL {url!r}: use s3://bucket/prefix or a local folder")


class CheckpointCopier:
    """The checkpoint locations of one checkpoint root (``root``: ``s3://bucket/prefix`` or
    a local folder; None accepts none), and copies of parents' checkpoints for their
    children, made only from inside the parent's folder of that root. The S3 client is
    injected (tests: moto); when not given, one is built on the first ``s3://`` checkpoint
    and kept (a Lambda container builds it once, and only if it serves a PBT scan with S3
    checkpoints)."""

    def __init__(self, *, root: str | Path | None = None, s3_client: Any = None) -> None:
        self.locations = CheckpointLocations(root)
        self._s3 = s3_client
        self._lock = threading.Lock()

    def check(self, uri: str, scan_id: str, trial_id: str) -> str:
        """``uri`` when it lies inside ``<root>/<scan_id>/<trial_id>/``.

        Raises:
            LocationError: it does not (or no root is configured).
        """
        return self.locations.check(uri, scan_id, trial_id)

    def copy(self, uri: str, parent_trial_id: str, child_trial_id: str) -> str:
        """The URI of ``child_trial_id``'s copy of the checkpoint at ``uri``, which must
        lie inside the parent's folder of the root (checked again here, whatever was
        recorded), as must the copy inside the child's.

        Raises:
            LocationError: ``uri`` or its copy lies outside its trial's folder.
            CheckpointError: nothing at ``uri``, or the store refused the copy.
            ValueError: a URI no store can read (``s3://`` without a bucket).
        """
        scan_id = parent_trial_id.rpartition("-")[0]
        self.check(uri, scan_id, parent_trial_id)
        store = checkpoint_store(uri, s3_client=self._s3_client() if _is_s3(uri) else None)
        copy = store.copy(uri, child_trial_id, parent_trial_id=parent_trial_id)
        return self.check(copy, scan_id, child_trial_id)

    def _s3_client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                self._s3 = s3_client()
            return self._s3


def _is_s3(uri: str) -> bool:
    return urlsplit(uri).scheme == "s3"
