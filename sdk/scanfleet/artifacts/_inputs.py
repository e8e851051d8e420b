"""Where the files uploaded with a scan are kept: its ``script`` (Picsellia's run input),
under ``inputs/<scan_id>/``. Locally a folder of the state directory; in AWS the stack's
bucket. A scan's config then names its stored copy by URI (``file://`` or ``s3://``),
which every worker fetches. The service is given one of these stores (``inputs``)."""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from scanfleet.artifacts._s3 import s3_client
from scanfleet.errors import InvalidRequestError

MAX_NAME_BYTES = 255  # the longest file name Linux, macOS and S3 keys all accept


def checked_name(name: str) -> str:
    """A file name without folders (an upload cannot escape its scan's folder), without
    NUL, at most ``MAX_NAME_BYTES`` bytes in UTF-8: checked before anything is written."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InvalidRequestError(f"not a file name: {name!r}")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidRequestError(f"file name longer than {MAX_NAME_BYTES} bytes: {name[:40]!r}...")
    return name


class InputStore(ABC):
    """Stores a scan's uploaded files; ``put`` answers the URI workers fetch it from."""

    @abstractmethod
    def put(self, scan_id: str, name: str, data: bytes) -> str:
        """Store ``data`` as ``name`` of the scan; returns its URI."""

    @abstractmethod
    def delete(self, scan_id: str) -> None:
        """Remove every file of the scan (none: nothing happens)."""


class LocalInputStore(InputStore):
    """``<root>/<scan_id>/<name>``; URIs are ``file://`` paths."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def put(self, scan_id: str, name: str, data: bytes) -> str:
        path = self.root / scan_id / checked_name(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(".upload.tmp")  # path.name + ".tmp" may exceed the name limit
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # private to its user, as the state folder is
            f.write(data)
        tmp.replace(path)
        return path.as_uri()

    def delete(self, scan_id: str) -> None:
        shutil.rmtree(self.root / scan_id, ignore_errors=True)


class S3InputStore(InputStore):
    """``s3://<bucket>/<prefix><scan_id>/<name>``; the S3 client is injected (built, and
    boto3 imported, only when not given)."""

    def __init__(self, bucket: str, *, prefix: str = "inputs/", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.client = client if client is not None else s3_client()

    def put(self, scan_id: str, name: str, data: bytes) -> str:
        key = f"{self.prefix}{scan_id}/{checked_name(name)}"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return f"s3://{self.bucket}/{key}"

    def delete(self, scan_id: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{scan_id}/"):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
