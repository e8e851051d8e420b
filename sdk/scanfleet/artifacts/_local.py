"""Checkpoints as folders of a local folder (local mode: ``<state dir>/checkpoints``)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from scanfleet.artifacts._base import (
    MANIFEST,
    CheckpointError,
    CheckpointStore,
    child_location,
    emptied,
    files_of,
    local_path,
    relative_key,
)
from scanfleet.artifacts._containment import contained_path, contained_tree


class LocalCheckpointStore(CheckpointStore):
    """Checkpoints as folders under ``root``; URIs are ``file://`` paths."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def upload(self, folder: Path, *, trial_id: str, step: int, attempt: int) -> str:
        target = self.root / relative_key(trial_id, step, attempt)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, staging, ignore=shutil.ignore_patterns(MANIFEST))
        files = files_of(staging)
        (staging / MANIFEST).write_text(json.dumps({"step": step, "files": files}))
        if target.exists():  # the same step saved twice by one attempt: the newer wins
            shutil.rmtree(target)
        os.replace(staging, target)
        return target.as_uri()

    def download(self, uri: str, folder: Path) -> None:
        source = local_path(uri)
        manifest = source / MANIFEST
        if not manifest.is_file():
            raise CheckpointError(f"no complete checkpoint at {uri}")
        files = json.loads(manifest.read_text())["files"]
        origins = [contained_path(source, name) for name in files]  # links followed
        emptied(folder)
        for name, origin in zip(files, origins, strict=True):
            dest = contained_path(folder, name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, dest)

    def discard_older(self, uri: str) -> int:
        keep = local_path(uri)
        deleted = 0
        for other in keep.parent.iterdir():
            if other != keep and other.name.startswith("step-"):
                shutil.rmtree(other, ignore_errors=True)
                deleted += 1
        return deleted

    def copy(self, uri: str, child_trial_id: str, *, parent_trial_id: str) -> str:
        source = local_path(uri)
        if not source.exists():
            raise CheckpointError(f"checkpoint {uri} of trial {parent_trial_id} does not exist")
        if source.is_dir():
            contained_tree(source)  # a link out would copy what it points at
        target = Path(*child_location(source.parts, parent_trial_id, child_trial_id))
        if not target.exists():
            _copy_once(source, target)
        return target.resolve().as_uri() if urlsplit(uri).scheme == "file" else str(target)


def _copy_once(source: Path, target: Path) -> None:
    """Copy through a staging name, so racing copies leave one whole copy at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    if source.is_dir():
        shutil.copytree(source, staging)
    else:
        shutil.copy2(source, staging)
    try:
        os.rename(staging, target)
    except OSError:  # another creator's copy got there first
        with contextlib.suppress(OSError):
            shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
