"""Where checkpoint folders go between attempts: S3 in AWS, the state directory locally.

A checkpoint is one folder, stored under ``<base>/<scan_id>/<trial_id>/step-<step>-a<attempt>/``
with a ``MANIFEST.json`` written last: a folder without its manifest (an upload cut off by
the end of the machine) is never restored. Its URI is what the API records for the trial;
the next attempt downloads it by that URI, so a store is chosen by the URI's scheme.
A population-based-training child starts from a copy of its parent's checkpoint, made in
the same store with the parent's trial id replaced by the child's (``copy``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from scanfleet import names

MANIFEST = "MANIFEST.json"
STORE_SCHEMES = frozenset({"s3", "file", ""})  # URI schemes a store exists for ("": a path)
DEFAULT_STATE_DIR = ".scanfleet"


class CheckpointError(Exception):
    """A checkpoint could not be stored or restored."""


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


def _relative_key(trial_id: str, step: int, attempt: int) -> str:
    scan_id = trial_id.rpartition("-")[0] or "scan"
    return f"{scan_id}/{trial_id}/step-{step:010d}-a{attempt}"


def _files_of(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )


class LocalCheckpointStore(CheckpointStore):
    """Checkpoints as folders under ``root`` (local mode: ``<state dir>/checkpoints``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def upload(self, folder: Path, *, trial_id: str, step: int, attempt: int) -> str:
        target = self.root / _relative_key(trial_id, step, attempt)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, staging, ignore=shutil.ignore_patterns(MANIFEST))
        files = _files_of(staging)
        (staging / MANIFEST).write_text(json.dumps({"step": step, "files": files}))
        if target.exists():  # the same step saved twice by one attempt: the newer wins
            shutil.rmtree(target)
        os.replace(staging, target)
        return target.as_uri()

    def download(self, uri: str, folder: Path) -> None:
        source = _local_path(uri)
        manifest = source / MANIFEST
        if not manifest.is_file():
            raise CheckpointError(f"no complete checkpoint at {uri}")
        files = json.loads(manifest.read_text())["files"]
        _empty(folder)
        for name in files:
            dest = folder / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, dest)

    def discard_older(self, uri: str) -> int:
        keep = _local_path(uri)
        deleted = 0
        for other in keep.parent.iterdir():
            if other != keep and other.name.startswith("step-"):
                shutil.rmtree(other, ignore_errors=True)
                deleted += 1
        return deleted

    def copy(self, uri: str, child_trial_id: str, *, parent_trial_id: str) -> str:
        source = _local_path(uri)
        if not source.exists():
            raise CheckpointError(f"checkpoint {uri} of trial {parent_trial_id} does not exist")
        target = Path(*child_location(source.parts, parent_trial_id, child_trial_id))
        if not target.exists():
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
        return target.resolve().as_uri() if urlsplit(uri).scheme == "file" else str(target)


class S3CheckpointStore(CheckpointStore):
    """Checkpoints under ``s3://bucket/prefix``. The client is injected (tests: moto);
    built from the environment otherwise, which honours ``AWS_ENDPOINT_URL_S3``."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.s3 = client

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def upload(self, folder: Path, *, trial_id: str, step: int, attempt: int) -> str:
        base = self._key(_relative_key(trial_id, step, attempt))
        files = _files_of(folder)
        for name in files:
            self.s3.upload_file(str(folder / name), self.bucket, f"{base}/{name}")
        manifest = json.dumps({"step": step, "files": files}).encode()
        self.s3.put_object(Bucket=self.bucket, Key=f"{base}/{MANIFEST}", Body=manifest)
        return f"s3://{self.bucket}/{base}"

    def download(self, uri: str, folder: Path) -> None:
        bucket, base = _s3_parts(uri)
        try:
            body = self.s3.get_object(Bucket=bucket, Key=f"{base}/{MANIFEST}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise CheckpointError(f"no complete checkpoint at {uri}") from None
        _empty(folder)
        for name in json.loads(body)["files"]:
            dest = folder / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(bucket, f"{base}/{name}", str(dest))

    def discard_older(self, uri: str) -> int:
        bucket, base = _s3_parts(uri)
        trial_prefix = base.rpartition("/")[0] + "/"
        stale = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=trial_prefix
        ):
            stale += [
                o["Key"] for o in page.get("Contents", []) if not o["Key"].startswith(base + "/")
            ]
        for start in range(0, len(stale), 1000):
            chunk = [{"Key": key} for key in stale[start : start + 1000]]
            self.s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
        return len({key[len(trial_prefix) :].partition("/")[0] for key in stale})

    def copy(self, uri: str, child_trial_id: str, *, parent_trial_id: str) -> str:
        from botocore.exceptions import ClientError

        bucket, base = _s3_parts(uri)
        target = "/".join(child_location(base.split("/"), parent_trial_id, child_trial_id))
        try:
            self._copy_objects(bucket, base, target)
        except ClientError as exc:
            raise CheckpointError(f"checkpoint {uri} could not be copied: {exc}") from exc
        return f"s3://{bucket}/{target}"

    def _copy_objects(self, bucket: str, base: str, target: str) -> None:
        """Copies the folder's files then its manifest (so a cut-off copy is never
        restored), or the one object at ``base``; nothing when the copy is complete."""
        if self._exists(bucket, f"{target}/{MANIFEST}") or self._exists(bucket, target):
            return
        try:
            body = self.s3.get_object(Bucket=bucket, Key=f"{base}/{MANIFEST}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            if not self._exists(bucket, base):
                raise CheckpointError(f"no checkpoint at s3://{bucket}/{base}") from None
            self.s3.copy({"Bucket": bucket, "Key": base}, bucket, target)
            return
        for name in json.loads(body)["files"]:
            self.s3.copy({"Bucket": bucket, "Key": f"{base}/{name}"}, bucket, f"{target}/{name}")
        self.s3.put_object(Bucket=bucket, Key=f"{target}/{MANIFEST}", Body=body)

    def _exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True


def checkpoint_store(url: str, *, s3_client: Any = None) -> CheckpointStore:
    """The store for a base URL or a checkpoint URI: ``s3://bucket/prefix`` or a folder
    (a path or ``file://``)."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"checkpoint URL {url!r} names no bucket (s3://bucket/prefix)")
        return S3CheckpointStore(parts.netloc, parts.path, client=s3_client)
    if parts.scheme in ("", "file"):
        return LocalCheckpointStore(_local_path(url))
    raise ValueError(f"checkpoint URL {url!r}: use s3://bucket/prefix or a local folder")


def checkpoint_url_from(env: Mapping[str, str]) -> str:
    """Where this process keeps checkpoints: ``SCANFLEET_CHECKPOINT_URL``, else the
    stack's bucket (``SCANFLEET_BUCKET_NAME``), else ``<state dir>/checkpoints``."""
    if env.get(names.ENV_CHECKPOINT_URL):
        return env[names.ENV_CHECKPOINT_URL]
    if env.get(names.ENV_BUCKET_NAME):
        return f"s3://{env[names.ENV_BUCKET_NAME]}/checkpoints"
    state_dir = Path(env.get(names.ENV_STATE_DIR) or DEFAULT_STATE_DIR)
    return str((state_dir / "checkpoints").resolve())


def _local_path(url: str) -> Path:
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else Path(url)


def _s3_parts(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.strip("/")


def _empty(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
