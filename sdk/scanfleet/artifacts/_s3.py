"""The object store in S3: checkpoints under ``s3://bucket/prefix``, and downloads of one
object or of every object under a prefix (run inputs: ``base_model``, ``dataset``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from scanfleet.artifacts._base import (
    MANIFEST,
    CheckpointError,
    CheckpointStore,
    ObjectsNotFoundError,
    child_location,
    emptied,
    files_of,
    relative_key,
    s3_parts,
)
from scanfleet.artifacts._containment import contained_name, contained_path


def s3_client() -> Any:
    """A client from the environment (it honours ``AWS_ENDPOINT_URL_S3``); boto3 is
    imported only here, when no client was injected."""
    import boto3

    return boto3.client("s3")


class S3CheckpointStore(CheckpointStore):
    """Checkpoints under ``s3://bucket/prefix``. The client is injected (tests: moto);
    built from the environment otherwise."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.s3 = client if client is not None else s3_client()

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def upload(self, folder: Path, *, trial_id: str, step: int, attempt: int) -> str:
        base = self._key(relative_key(trial_id, step, attempt))
        files = files_of(folder)
        for name in files:
            self.s3.upload_file(str(folder / name), self.bucket, f"{base}/{name}")
        manifest = json.dumps({"step": step, "files": files}).encode()
        self.s3.put_object(Bucket=self.bucket, Key=f"{base}/{MANIFEST}", Body=manifest)
        return f"s3://{self.bucket}/{base}"

    def download(self, uri: str, folder: Path) -> None:
        bucket, base = s3_parts(uri)
        try:
            body = self.s3.get_object(Bucket=bucket, Key=f"{base}/{MANIFEST}")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise CheckpointError(f"no complete checkpoint at {uri}") from None
        names = [contained_name(name) for name in json.loads(body)["files"]]
        emptied(folder)
        for name in names:
            dest = contained_path(folder, name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(bucket, f"{base}/{name}", str(dest))

    def discard_older(self, uri: str) -> int:
        bucket, base = s3_parts(uri)
        trial_prefix = base.rpartition("/")[0] + "/"
        stale = [
            key
            for key in _keys_under(self.s3, bucket, trial_prefix)
            if not key.startswith(base + "/")
        ]
        for start in range(0, len(stale), 1000):
            chunk = [{"Key": key} for key in stale[start : start + 1000]]
            self.s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
        return len({key[len(trial_prefix) :].partition("/")[0] for key in stale})

    def copy(self, uri: str, child_trial_id: str, *, parent_trial_id: str) -> str:
        from botocore.exceptions import ClientError

        bucket, base = s3_parts(uri)
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
        for name in [contained_name(name) for name in json.loads(body)["files"]]:
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


def download_objects(client: Any, uri: str, dest: Path) -> None:
    """Download ``s3://bucket/key`` to ``dest``: the one object named ``key`` as a file,
    else every object under the prefix ``key`` as a folder. The download goes through
    ``<dest>.partial``, so ``dest`` exists only once it is whole.

    Raises:
        ObjectsNotFoundError: no object at ``uri`` and none under it.
        botocore's ClientError / BotoCoreError: S3 refused or could not be reached.
    """
    bucket, _, key = uri[len("s3://") :].partition("/")
    prefix = key if key.endswith("/") or not key else key + "/"
    objects = list(_keys_under(client, bucket, key))
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.unlink(missing_ok=True)
    if key in objects and not key.endswith("/"):  # one object
        partial.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(partial))
    else:
        inside = [k for k in objects if k.startswith(prefix) and not k.endswith("/")]
        if not inside:
            raise ObjectsNotFoundError(f"nothing at {uri}")
        # a key such as ``<prefix>../../x`` is refused before anything is downloaded
        targets = [(k, contained_path(partial, k[len(prefix) :])) for k in inside]
        for object_key, local in targets:
            local.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, object_key, str(local))
    partial.rename(dest)


def _keys_under(client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys
