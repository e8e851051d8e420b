"""Copying a checkpoint for a new trial (population-based training: a member that exploits
starts from a copy of a top member's checkpoint, never from the files the top member goes
on writing to).

The copy is made by the worker's checkpoint store for the URI's scheme
(``runtime/checkpoints.py``), so local folders and S3 share one layout and one rule for
where a child's copy goes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from scanfleet.runtime.checkpoints import STORE_SCHEMES, checkpoint_store

log = logging.getLogger("scanfleet.service")


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
                import boto3

                self._s3 = boto3.client("s3")
            return self._s3
