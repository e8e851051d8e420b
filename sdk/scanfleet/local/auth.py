"""Tokens of the local server: created on first start, kept in the state directory."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from pathlib import Path


def owner_id(token: str) -> str:
    """A stable identity for a token that does not reveal it."""
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenStore:
    """``<state_dir>/tokens.json`` (mode 0600). The first token is the default one."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / "tokens.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}
        tokens = json.loads(self.path.read_text())["tokens"] if self.path.exists() else []
        for token in tokens:
            self._owners[token] = owner_id(token)
        if not tokens:
            self.create_token()

    @property
    def default_token(self) -> str:
        return next(iter(self._owners))

    def create_token(self) -> str:
        with self._lock:
            token = "sf_" + secrets.token_urlsafe(24)
            self._owners[token] = owner_id(token)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"tokens": list(self._owners)}, f)
            os.replace(tmp, self.path)
            return token

    def owner_for(self, token: str | None) -> str | None:
        if not token:
            return None
        for known, owner in self._owners.items():
            if secrets.compare_digest(known, token):
                return owner
        return None
