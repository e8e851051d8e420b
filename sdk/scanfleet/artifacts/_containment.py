"""Where the object store may read and write: one rule for every path or key that comes
from outside (a URI a client records, a name in a manifest, a key listed under a prefix).

- A checkpoint location is accepted only inside ``<checkpoint root>/<scan>/<trial>/``:
  locally the resolved real path (symlinks followed, ``..`` refused), in S3 the stack's
  bucket and the key prefix ``<root prefix>/<scan>/<trial>/`` (``..`` segments refused).
- A relative name (a manifest's file, an object key below a prefix) stays inside its
  folder or prefix.

Anything else raises :class:`LocationError`, before anything is read, copied or written.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from scanfleet.artifacts._base import ArtifactError, local_path, s3_parts


class LocationError(ArtifactError):
    """A path, key or URI lies outside the folder or prefix it must stay in."""


def contained_name(name: str) -> str:
    """``name`` as a relative POSIX path without ``.``/``..``/empty segments.

    Raises:
        LocationError: an absolute name, a backslash or NUL, or a segment that is not a name.
    """
    parts = name.split("/")
    if not name or "\\" in name or "\0" in name or any(part in ("", ".", "..") for part in parts):
        raise LocationError(f"{name!r} is not a name inside its folder")
    return name


def contained_path(folder: Path, name: str) -> Path:
    """``folder / name``, checked to stay inside ``folder`` once every symlink of it
    is resolved (a link inside the folder that points out is refused).

    Raises:
        LocationError: ``name`` leaves ``folder``.
    """
    path = Path(folder) / contained_name(name)
    if not is_inside(path, folder):
        raise LocationError(f"{name!r} leads outside {folder}")
    return path


def contained_tree(folder: Path) -> None:
    """Refuse a folder holding a symlink that leads outside it (copying it would copy
    what the link points at)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for entry in (*dirnames, *filenames):
            path = Path(dirpath) / entry
            if path.is_symlink() and not is_inside(path, folder):
                raise LocationError(f"{path} links outside {folder}")


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path``'s real path is ``folder``'s real path or below it."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


class CheckpointLocations:
    """The rule for checkpoint URIs under one checkpoint root: ``s3://bucket/prefix`` or a
    local folder (a path or ``file://``). ``root=None`` accepts no location."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = None if root is None else str(root)

    def check(self, uri: str, scan_id: str, trial_id: str) -> str:
        """``uri``, once it is known to lie inside ``<root>/<scan_id>/<trial_id>/``.

        Raises:
            LocationError: no root is configured, or ``uri`` lies elsewhere.
        """
        if self.root is None:
            raise LocationError("this server keeps no checkpoints (no checkpoint root)")
        where = f"{self.root.rstrip('/')}/{scan_id}/{trial_id}/"
        for segment in (scan_id, trial_id):
            contained_name(segment)
        if urlsplit(self.root).scheme == "s3":
            ok = self._inside_s3(uri, scan_id, trial_id)
        else:
            ok = self._inside_folder(uri, scan_id, trial_id)
        if not ok:
            raise LocationError(f"{uri!r} is not inside {where}")
        return uri

    def _inside_s3(self, uri: str, scan_id: str, trial_id: str) -> bool:
        if urlsplit(uri).scheme != "s3":
            return False
        root_bucket, root_prefix = s3_parts(self.root or "")
        bucket, key = s3_parts(uri)
        prefix = "/".join(p for p in (root_prefix, scan_id, trial_id) if p) + "/"
        rest = key[len(prefix) :]
        return bucket == root_bucket and key.startswith(prefix) and _is_name(rest)

    def _inside_folder(self, uri: str, scan_id: str, trial_id: str) -> bool:
        scheme = urlsplit(uri).scheme
        if scheme not in ("", "file"):
            return False
        path = local_path(uri)
        if not path.is_absolute() or ".." in path.parts:
            return False
        folder = local_path(self.root or "") / scan_id / trial_id
        return is_inside(path, folder) and os.path.realpath(path) != os.path.realpath(folder)


def _is_name(rest: str) -> bool:
    try:
        contained_name(rest.rstrip("/"))
    except LocationError:
        return False
    return True


__all__ = [
    "CheckpointLocations",
    "LocationError",
    "contained_name",
    "contained_path",
    "contained_tree",
    "is_inside",
]
