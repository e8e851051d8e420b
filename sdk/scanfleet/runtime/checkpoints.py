"""Where this worker keeps checkpoint folders between attempts: S3 in AWS, the state
directory locally.

The stores themselves (layout, manifest, upload, download, copy) are the object store's,
:mod:`scanfleet.artifacts`; the two names the agent and ``current_trial`` import from
here are that package's, re-exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from scanfleet import names
from scanfleet.artifacts import CheckpointError, checkpoint_store

DEFAULT_STATE_DIR = ".scanfleet"

__all__ = ["DEFAULT_STATE_DIR", "CheckpointError", "checkpoint_store", "checkpoint_url_from"]


def checkpoint_url_from(env: Mapping[str, str]) -> str:
    """Where this process keeps checkpoints: ``SCANFLEET_CHECKPOINT_URL``, else the
    stack's bucket (``SCANFLEET_BUCKET_NAME``), else ``<state dir>/checkpoints``."""
    if env.get(names.ENV_CHECKPOINT_URL):
        return env[names.ENV_CHECKPOINT_URL]
    if env.get(names.ENV_BUCKET_NAME):
        return f"s3://{env[names.ENV_BUCKET_NAME]}/checkpoints"
    state_dir = Path(env.get(names.ENV_STATE_DIR) or DEFAULT_STATE_DIR)
    return str((state_dir / "checkpoints").resolve())
