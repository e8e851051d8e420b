"""Run inputs (Picsellia's ``script``, ``requirements``, ``base_model``, ``dataset``).

Two moments:

- **When a scan is created** (``local_inputs``): a ``script`` that names a file on this
  machine is read, to be uploaded with the scan (the API stores it: the state directory
  locally, S3 in AWS, and the config then names the stored copy by URI); a
  ``requirements`` file becomes its list of packages, so workers need no copy of it.
- **On a worker, before its first trial** (``prepare``): the stored script is fetched,
  the requirements are installed with pip into a folder put on the trials' PYTHONPATH,
  and ``base_model`` and ``dataset`` (a local path, ``file://`` or ``s3://`` URI) are
  fetched. Everything lands in a cache folder keyed by a hash of what it holds, under a
  file lock, so a worker (or the next worker on the machine) does it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from scanfleet import names
from scanfleet.artifacts import (
    LocationError,
    ObjectsNotFoundError,
    contained_path,
    download_objects,
)
from scanfleet.config import ScanConfig, command_script
from scanfleet.config import local_inputs as local_inputs

ARTIFACTS = (("base_model", names.ENV_BASE_MODEL), ("dataset", names.ENV_DATASET))


class InputError(ValueError):
    """A run input cannot be made ready; the message starts with its config field.
    Trying again would meet the same error (missing object or path, refused access, a
    requirement no index has)."""


class InputUnavailableError(InputError):
    """A run input could not be fetched right now (S3 or the package index unreachable,
    throttled or failing): trying again later may work."""


# S3 error codes that say "not now" rather than "never" (throttling, server trouble)
_TRANSIENT_S3_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
     "ServiceUnavailable", "RequestLimitExceeded"}
)  # fmt: skip
# what pip prints when it could not reach an index (a missing package prints none of it)
_PIP_NETWORK_SIGNS = (
    "Retrying (Retry(", "NewConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
    "ProtocolError", "Max retries exceeded", "Temporary failure in name resolution",
    "Connection refused", "Could not fetch URL", "HTTP error 5",
)  # fmt: skip


@dataclass
class Staged:
    """What ``prepare`` made ready: the config to run (its ``script`` a local path) and
    the environment every trial gets."""

    config: ScanConfig
    env: dict[str, str] = field(default_factory=dict)


# ---- when the scan is created: ``local_inputs``, the config's own (``scanfleet.config``,
# which the client imports without the runtime), re-exported above ---------------------------


# ---- on a worker ----------------------------------------------------------------------------


def prepare(
    config: ScanConfig,
    cache_dir: str | Path,
    *,
    base_dir: str | Path | None = None,
    s3_client: Any = None,
    python: str = sys.executable,
) -> Staged:
    """Make the scan's run inputs ready on this worker (once: later calls find the cache).

    A relative local path is taken from ``base_dir`` (the worker's workdir; default the
    current folder).

    Returns:
        The config with ``script`` as a local path, and the trials' environment:
        ``SCANFLEET_BASE_MODEL``/``SCANFLEET_DATASET`` (local paths) and ``PYTHONPATH``
        with the installed requirements first.
    Raises:
        InputError: naming the field whose input is missing or failed.
    """
    cache = Path(cache_dir).resolve()
    staged = Staged(config)
    fetcher = _Fetcher(cache, Path(base_dir or Path.cwd()), s3_client)
    if config.script and "://" in config.script:
        local = fetcher.fetch(config.script, "script")
        update: dict[str, Any] = {"script": str(local)}
        command = _command_running(config.command, local, fetcher.base_dir)
        if command is not None:
            update["command"] = command
        staged.config = config.model_copy(update=update)
    specs = unsatisfied(config.requirement_specs(base_dir))
    if specs:
        target = install_requirements(specs, cache, python=python)
        path = [str(target), *filter(None, [os.environ.get("PYTHONPATH")])]
        staged.env["PYTHONPATH"] = os.pathsep.join(path)
    for name, env_name in ARTIFACTS:
        value = getattr(config, name)
        if value:
            staged.env[env_name] = str(fetcher.fetch(value, name))
    return staged


def _command_running(command: list[str] | None, copy: Path, workdir: Path) -> list[str] | None:
    """``command`` running the stored ``copy`` of its script, when the script was uploaded
    (``local_inputs``: same file name) and the worker's folder lacks it; else None (the
    command runs as it is: a project checked out on the worker runs its own file)."""
    script = command_script(command)
    if command is None or script is None or Path(script).name != copy.name:
        return None
    if (workdir / script).is_file():
        return None
    return [command[0], str(copy), *command[2:]]


def unsatisfied(specs: list[str]) -> list[str]:
    """The requirements this environment does not meet already (as ``pip install`` would
    find them satisfied in the base image). Without ``packaging``: all of them."""
    try:
        from packaging.requirements import InvalidRequirement
        from packaging.requirements import Requirement as Spec
    except ImportError:
        return list(specs)
    missing = []
    for text in specs:
        try:
            spec = Spec(text)
            installed = importlib.metadata.version(spec.name)
        except (InvalidRequirement, importlib.metadata.PackageNotFoundError):
            missing.append(text)
            continue
        if spec.marker is not None and not spec.marker.evaluate():
            continue
        if spec.url or not spec.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing


def install_requirements(specs: list[str], cache: Path, *, python: str = sys.executable) -> Path:
    """``pip install --target`` the packages into ``<cache>/requirements/<hash>`` (the hash
    of the set and the interpreter), unless a worker did it before.

    pip's own settings apply (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``...).
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = _digest("\n".join(sorted(set(specs))) + f"\n{python}\n{version}")
    target = cache / "requirements" / key
    with _locked(target):
        if target.is_dir():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        # not --quiet: pip says it could not reach an index only in its warnings
        argv = [python, "-m", "pip", "install", "--progress-bar=off", "--disable-pip-version-check"]
        done = subprocess.run(
            [*argv, "--no-input", "--target", str(partial), *specs],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            output = f"{done.stdout}\n{done.stderr}"
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            message = f"requirements: pip could not install {' '.join(specs)}:\n{tail}"
            if any(sign in output for sign in _PIP_NETWORK_SIGNS):
                raise InputUnavailableError(message)
            raise InputError(message)
        partial.rename(target)
    return target


class _Fetcher:
    """Local paths as they are; ``s3://`` objects or prefixes downloaded into the cache."""

    def __init__(self, cache: Path, base_dir: Path, s3_client: Any) -> None:
        self.cache = cache
        self.base_dir = base_dir
        self._s3 = s3_client

    def fetch(self, source: str, field_name: str) -> Path:
        if source.startswith("s3://"):
            return self._from_s3(source, field_name)
        if source.startswith("file://"):
            path = Path(unquote(urlsplit(source).path))
        elif "://" in source:
            raise InputError(f"{field_name}: {source} is neither a local path nor an s3:// URI")
        else:
            path = (self.base_dir / Path(source).expanduser()).resolve()
        if not path.exists():
            raise InputError(
                f"{field_name}: no such file or folder on this worker: {path} "
                "(give a path that exists where workers run, or an s3:// URI)"
            )
        return path

    def _from_s3(self, uri: str, field_name: str) -> Path:
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise InputError(f"{field_name}: {uri} names no bucket")
        base = key.rstrip("/").rsplit("/", 1)[-1] or bucket
        with _s3_errors(uri, field_name):
            dest = contained_path(self.cache / "artifacts" / _digest(uri), base)
        with _locked(dest):
            if dest.exists():
                return dest
            with _s3_errors(uri, field_name):
                download_objects(self._client(), uri, dest)
        return dest

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3")
        return self._s3


@contextlib.contextmanager
def _s3_errors(uri: str, field_name: str) -> Iterator[None]:
    """S3's errors as InputError: throttling, server errors and no connection (or no
    credentials yet) are InputUnavailableError; the rest (access denied, no such bucket)
    would come back on every try."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ObjectsNotFoundError, LocationError) as exc:
        raise InputError(f"{field_name}: {exc}") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        message = f"{field_name}: {uri}: {error.get('Code')} {error.get('Message', '')}".strip()
        if error.get("Code") in _TRANSIENT_S3_CODES or status >= 500:
            raise InputUnavailableError(message) from exc
        raise InputError(message) from exc
    except BotoCoreError as exc:
        raise InputUnavailableError(f"{field_name}: {uri}: {exc}") from exc


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time makes ``path`` (workers of one machine share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
