"""Tokens of the local server: created on first start, kept in the state directory.

The local server plays the part of the Lambda authorizer in AWS: it maps a bearer token to
an owner id, which the API scopes every scan to. The owner id is a hash of the token, so
it is stable across restarts and does not reveal the token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
from pathlib import Path

TOKENS_FILE = "tokens.json"
_PREFIX = "sf_"


def owner_id(token: str) -> str:
    """A stable identity for a token that does not reveal it."""
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenStoreError(ValueError):
    """``tokens.json`` exists but cannot be read as a token list."""


class TokenStore:
    """``<state_dir>/tokens.json``, readable by its owner only (mode 0600).

    The first token (created on first start) is the default one. Tokens another process
    adds to the file are picked up the next time an unknown token is presented.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / TOKENS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}
        self._seen: int | None = None  # mtime of the file when last read
        with self._lock:
            self._load()
            if not self._owners:
                self._add(_new_token())

    @property
    def default_token(self) -> str:
        return next(iter(self._owners))

    def tokens(self) -> list[str]:
        return list(self._owners)

    def create_token(self) -> str:
        """A new token, saved beside the others; its owner is a new identity."""
        with self._lock:
            self._load()  # keep what another process added meanwhile
            return self._add(_new_token())

    def owner_for(self, token: str | None) -> str | None:
        """The owner id of a known token, else None (constant-time comparisons)."""
        if not token:
            return None
        with self._lock:
            owner = self._lookup(token)
            if owner is None and self._changed():
                self._load()
                owner = self._lookup(token)
        return owner

    # ---- internals (under the lock) -------------------------------------------------------

    def _lookup(self, token: str) -> str | None:
        found = None
        for known, owner in self._owners.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                found = owner
        return found

    def _mtime(self) -> int | None:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def _changed(self) -> bool:
        return self._mtime() != self._seen

    def _load(self) -> None:
        self._seen = self._mtime()
        if self._seen is None:
            return
        with contextlib.suppress(PermissionError):
            os.chmod(self.path, 0o600)  # tighten a file someone loosened
        try:
            tokens = json.loads(self.path.read_text())["tokens"]
            if not all(isinstance(t, str) and t for t in tokens):
                raise TypeError("tokens must be non-empty strings")
        except (ValueError, KeyError, TypeError) as err:
            raise TokenStoreError(
                f"{self.path} is not a scanfleet token file ({err}); move it away to start afresh"
            ) from err
        for token in tokens:
            self._owners.setdefault(token, owner_id(token))

    def _add(self, token: str) -> str:
        self._owners[token] = owner_id(token)
        tmp = self.path.with_name(f".{TOKENS_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                os.fchmod(f.fileno(), 0o600)  # also when the temp file existed with another mode
                json.dump({"tokens": list(self._owners)}, f, indent=2)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)
        self._seen = self._mtime()
        return token


def _new_token() -> str:
    return _PREFIX + secrets.token_urlsafe(32)
