"""The contract of a checkpoint store, and the layout every store shares.

A checkpoint is one folder, stored under ``<base>/<scan_id>/<trial_id>/step-<step>-a<attempt>/``
with a ``MANIFEST.json`` written last: a folder without its manifest (an upload cut off by
the end of the machine) is never restored. Its URI is what the API records for the trial;
the next attempt downloads it by that URI, so a store is chosen by the URI's scheme.
A population-based-training child starts from a copy of its parent's checkpoint, made in
the same store with the parent's trial id replaced by the child's (``copy``).
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

MANIFEST = "MANIFEST.json"
STORE_SCHEMES = frozenset({"s3", "file", ""})  # URI schemes a store exists for ("": a path)


class ArtifactError(Exception):
    """An object of the object store could not be stored, found or copied."""


class CheckpointError(ArtifactError):
    """A checkpoint could not be stored or restored."""


class ObjectsNotFoundError(ArtifactError):
    """Nothing is stored at the URI (no object, no object under the prefix)."""


class CheckpointStore(ABC):
    """Stores checkpoint folders. ``upload`` is all-or-nothing as seen by ``download``:
    the manifest goes last, and ``download`` refuses a checkpoint without one."""

    @abstractmethod
    def upload(self, folder: Path, *, trial_id: str, step: int, attempt: int) -> str:
        """Copy ``folder`` (recursively) into the store.

        Returns:
            The checkpoint's URI, to record through the API.
        """

    @abstractmethod
    def download(self, uri: str, folder: Path) -> None:
        """Make ``folder`` hold exactly the checkpoint at ``uri``.

        Raises:
            CheckpointError: no complete checkpoint at ``uri``.
        """

    @abstractmethod
    def discard_older(self, uri: str) -> int:
        """Delete the trial's other checkpoints (the one at ``uri`` is the one recorded).
        Returns how many were deleted."""

    @abstractmethod
    def copy(self, uri: str, child_trial_id: str, *, parent_trial_id: str) -> str:
        """Copy the checkpoint at ``uri`` (a checkpoint folder, or one file) of
        ``parent_trial_id`` for ``child_trial_id``, at ``child_location``. A copy already
        there is kept, so racing creators of one child make one copy; the parent may go on
        writing its own checkpoints without changing the copy.

        Returns:
            The copy's URI, in the form ``uri`` had.
        Raises:
            CheckpointError: nothing at ``uri``, or the store refused the copy.
        """


def child_location(parts: Sequence[str], parent_trial_id: str, child_trial_id: str) -> list[str]:
    """Where a child's copy of a parent's checkpoint goes, as path parts: the parent's
    trial id replaced by the child's (``<base>/<scan>/<parent>/step-…`` →
    ``<base>/<scan>/<child>/step-…``), else beside it as ``<child>-<name>``."""
    copy = list(parts)
    if parent_trial_id in copy:
        copy[len(copy) - 1 - copy[::-1].index(parent_trial_id)] = child_trial_id
    else:
        copy[-1] = f"{child_trial_id}-{copy[-1]}"
    return copy


def relative_key(trial_id: str, step: int, attempt: int) -> str:
    """``<scan_id>/<trial_id>/step-<step>-a<attempt>``: where a checkpoint goes in a store."""
    scan_id = trial_id.rpartition("-")[0] or "scan"
    return f"{scan_id}/{trial_id}/step-{step:010d}-a{attempt}"


def files_of(folder: Path) -> list[str]:
    """The files of a checkpoint folder (what its manifest lists), as relative paths."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )


def local_path(url: str) -> Path:
    """The path of a ``file://`` URI or of a plain path."""
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else Path(url)


def s3_parts(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/`` → (bucket, key without its slashes at either end)."""
    parts = urlsplit(uri)
    return parts.netloc, parts.path.strip("/")


def emptied(folder: Path) -> None:
    """Make ``folder`` an empty folder."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
