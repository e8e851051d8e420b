"""Bearer tokens and the tenants they stand for.

The local server keeps its tokens in ``<state>/tokens.json`` (:class:`TokenStore`); in AWS
the Lambda token authorizer reads them from a secret. Both map a bearer token to the same
owner id (a hash of the token, stable across restarts, that does not reveal the token) and
to its tenant (``scanfleet.tenancy``), which the API scopes every scan to: the tenant the
token file names for it, else its owner id (what its scans have always carried). Tokens are
compared in constant time (:func:`is_known`). The default (first) token also keys the
per-trial worker tokens (:attr:`TokenStore.trial_key`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from scanfleet.tenancy import Tenant, TenantMap, trial_token_key

TOKENS_FILE = "tokens.json"
_PREFIX = "sf_"


def owner_id(token: str) -> str:
    """A stable identity for a token that does not reveal it."""
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:16]


class TokenStoreError(ValueError):
    """``tokens.json`` exists but is not ``{"tokens": ["sf_...", {"token": "sf_...",
    "tenant": "team-a"}, ...]}``; the message names the file and the field."""


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
        self._tenants: dict[str, str] = {}  # tokens the file gives a tenant
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

    @property
    def trial_key(self) -> bytes:
        """The key per-trial worker tokens are signed with (from the default token)."""
        return trial_token_key(self.default_token)

    def create_token(self, tenant: str | None = None) -> str:
        """A new token, saved beside the others; its tenant is ``tenant``, else a new one
        of its own."""
        if tenant is not None:
            TenantMap.parse(json.dumps({"*": tenant}), setting="tenant")  # checks the name
        with self._lock:
            self._load()  # keep what another process added meanwhile
            return self._add(_new_token(), tenant)

    def tenant_for(self, token: str | None) -> Tenant | None:
        """The tenant of a known token (its former owner id beside it), else None."""
        owner = self.owner_for(token)
        if owner is None or token is None:
            return None
        return Tenant(self._tenants.get(token, owner), former=owner)

    def owner_for(self, token: str | None) -> str | None:
        """The owner id of a known token, else None (constant-time comparisons)."""
        if not token:
            return None
        with self._lock:
            owner = self._lookup(token)
            if owner is None and self._changed():
                # a file broken while the server runs: the tokens read before still hold,
                # the unknown one stays unknown, and the next start refuses the file
                with contextlib.suppress(TokenStoreError):
                    self._load()
                owner = self._lookup(token)
        return owner

    # ---- internals (under the lock) -------------------------------------------------------

    def _lookup(self, token: str) -> str | None:
        return self._owners[token] if is_known(token, self._owners) else None

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
        for token, tenant in _tokens_in(self.path):
            self._owners.setdefault(token, owner_id(token))
            if tenant is not None:
                self._tenants[token] = tenant

    def _add(self, token: str, tenant: str | None = None) -> str:
        self._owners[token] = owner_id(token)
        if tenant is not None:
            self._tenants[token] = tenant
        tmp = self.path.with_name(f".{TOKENS_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                os.fchmod(f.fileno(), 0o600)  # also when the temp file existed with another mode
                json.dump({"tokens": self._entries()}, f, indent=2)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)
        self._seen = self._mtime()
        return token

    def _entries(self) -> list[str | dict[str, str]]:
        return [
            {"token": token, "tenant": self._tenants[token]} if token in self._tenants else token
            for token in self._owners
        ]


def is_known(token: str, known: Iterable[str]) -> bool:
    """Whether ``token`` is one of ``known``, compared with every one of them in constant
    time (how long it takes says nothing about which tokens exist)."""
    found = False
    for candidate in known:
        found |= secrets.compare_digest(candidate.encode(), token.encode())
    return found


def _tokens_in(path: Path) -> list[tuple[str, str | None]]:
    """The tokens of a token file with their tenants: ``{"tokens": [...]}`` and nothing
    else, each a token string or ``{"token": "sf_...", "tenant": "<tenant>"}``.

    Raises:
        TokenStoreError: naming the file and the field, for any other content.
    """

    def refuse(problem: str) -> TokenStoreError:
        return TokenStoreError(
            f"{path} is not a scanfleet token file: {problem}; fix it, or move it away to"
            " start afresh with a new token"
        )

    try:
        document = json.loads(path.read_text())
    except ValueError as err:
        raise refuse(f"not JSON ({err})") from err
    if not isinstance(document, dict):
        raise refuse(f'it must be a JSON object {{"tokens": [...]}}, not {_kind(document)}')
    unknown = sorted(set(document) - {"tokens"})
    if unknown:
        raise refuse(f"unknown field {unknown[0]!r}")
    if "tokens" not in document:
        raise refuse("no field 'tokens'")
    tokens = document["tokens"]
    if not isinstance(tokens, list):
        raise refuse(f"'tokens' must be a list of tokens, not {_kind(tokens)}")
    return [_token_entry(entry, f"tokens[{i}]", refuse) for i, entry in enumerate(tokens)]


def _token_entry(
    entry: object, field: str, refuse: Callable[[str], TokenStoreError]
) -> tuple[str, str | None]:
    tenant = None
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"token", "tenant"})
        if unknown:
            raise refuse(f"unknown field {field}.{unknown[0]!r}")
        token, tenant = entry.get("token"), entry.get("tenant")
        try:
            TenantMap.parse(json.dumps({"*": tenant}), setting=f"{field}.tenant")
        except ValueError as err:
            raise refuse(str(err)) from err
        field = f"{field}.token"
    else:
        token = entry
    if not isinstance(token, str) or not token or any(c.isspace() for c in token):
        raise refuse(f"'{field}' must be a non-empty string without spaces")
    return token, tenant


def _kind(value: object) -> str:
    return type(value).__name__


def _new_token() -> str:
    return _PREFIX + secrets.token_urlsafe(32)
