"""Choosing a checkpoint store by URI, and copying a parent's checkpoint for a child
(population-based training: a member that exploits starts from a copy of a top member's
checkpoint, never from the files the top member goes on writing to).

:class:`CheckpointCopier` is what the service's artifact-copy port is given by default;
local folders and S3 share one layout and one rule for where a child's copy goes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from scanfleet.artifacts._base import STORE_SCHEMES, CheckpointStore, local_path
from scanfleet.artifacts._local import LocalCheckpointStore
from scanfleet.artifacts._s3 import S3CheckpointStore, s3_client

log = logging.getLogger("scanfleet.artifacts")


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
    """Copies parents' checkpoints for their children. The S3 client is injected (tests:
    moto); when not given, one is built on the first ``s3://`` checkpoint and kept (a Lambda
    container builds it once, and only if it serves a PBT scan with S3 checkpoints)."""

    def __init__(self, *, s3_client: Any = None) -> None:
        self._s3 = s3_client
        self._lock = threading.Lock()

    def copy(self, uri: str, parent_trial_id: str, child_trial_id: str) -> str:
        """The URI of ``child_trial_id``'s copy of the checkpoint at ``uri``. A URI no
        checkpoint store handles (a script may record any URI) is returned as it is: the
        child then reads the parent's checkpoint where it is.

        Raises:
            CheckpointError: nothing at ``uri``, or the store refused the copy.
            ValueError: a URI no store can read (``s3://`` without a bucket).
        """
        scheme = urlsplit(uri).scheme
        if scheme not in STORE_SCHEMES:
            log.warning("checkpoint %s is in no checkpoint store: the child reads it in place", uri)
            return uri
        s3 = self._s3_client() if scheme == "s3" else None
        return checkpoint_store(uri, s3_client=s3).copy(
            uri, child_trial_id, parent_trial_id=parent_trial_id
        )

    def _s3_client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                self._s3 = s3_client()
            return self._s3
