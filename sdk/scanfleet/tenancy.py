"""Who owns a scan, and who may act on its trials.

A **tenant** owns scans. Every caller is resolved to one before a use case runs:

- IAM (SigV4): the caller's ARN (``requestContext.identity.userArn``: an IAM user, or an
  assumed role with its session name, such as the stack's job role or an agent's instance
  profile) maps to a tenant through :class:`TenantMap`: the first matching rule of the
  ``SCANFLEET_TENANTS`` setting, else the ARN's AWS account id. A rule mapping to ``null``
  refuses the callers it matches (403).
- Tokens: the token's tenant, which the token authorizer (or the local server) puts in the
  authorizer context.
- Per-trial worker tokens (``sft_<trial>.<attempt>.<expiry>.<mac>``): a
  :class:`TrialGrant`, good for that one trial's attempt and nothing else.

Scans stored before tenancy keep their ``owner`` field: an ARN there is read as the tenant
that ARN maps to now (:meth:`TenantMap.owner_tenant`), anything else (``tok-<hash>``, a
tenant id) as it is; a caller whose token had that ``tok-<hash>`` id carries it as
:attr:`Tenant.former` and still reaches those scans. The store lists an ARN-owned scan
under that ARN until the service's first listing moves it to the tenant the ARN maps to
(``Scans.relist_arn_owned_scans``; the stored ``owner`` stays), so ``GET /scans`` shows it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

ENV_TENANTS = "SCANFLEET_TENANTS"
TRIAL_TOKEN_PREFIX = "sft_"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,127}$")
_ROLE_ARN = re.compile(r"^arn:([a-z-]+):iam::([0-9]{12}|\*):role/(?:.*/)?([^/]+)$")
_TRIAL_TOKEN = re.compile(r"^sft_([a-z0-9]+-[0-9a-f]+)\.([0-9]+)\.([0-9]+)\.([0-9a-f]{64})$")
_KEY_LABEL = b"scanfleet trial-token key v1"


class TenancyError(ValueError):
    """The tenant mapping setting is not valid; the message names the setting."""


class Tenant(str):
    """A tenant id as the caller of a request. ``former``: the owner id this caller's scans
    carry from before tenancy (a token's ``tok-<hash>``), also accepted as theirs."""

    former: str | None

    def __new__(cls, tenant: str, former: str | None = None) -> Tenant:
        value = super().__new__(cls, tenant)
        value.former = former if former and former != tenant else None
        return value

    def owns(self, owner_tenant: str | None, stored_owner: str) -> bool:
        return owner_tenant == str(self) or (
            self.former is not None and stored_owner == self.former
        )


class TrialGrant(str):
    """The caller of a request made with a per-trial worker token: one trial's attempt."""

    trial_id: str
    attempt: int

    def __new__(cls, trial_id: str, attempt: int) -> TrialGrant:
        value = super().__new__(cls, f"trial:{trial_id}#{attempt}")
        value.trial_id, value.attempt = trial_id, attempt
        return value


@dataclass(frozen=True)
class TenantMap:
    """ARN patterns (``fnmatch``, ``*`` also crosses ``/``) → tenant, first match wins; an
    ARN no rule matches belongs to its AWS account. A rule for a role
    (``arn:aws:iam::<acct>:role/Name``) also matches that role's sessions
    (``arn:aws:sts::<acct>:assumed-role/Name/*``), which is what a job or an instance signs as.
    """

    rules: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def parse(cls, text: str | None, *, setting: str = ENV_TENANTS) -> TenantMap:
        """``{"<ARN pattern>": "<tenant>" | null, ...}`` (JSON); empty or None: no rules.

        Raises:
            TenancyError: naming ``setting`` and the bad entry.
        """
        if not text or not text.strip():
            return cls()
        try:
            document = json.loads(text)
        except ValueError as err:
            raise TenancyError(f"{setting} is not JSON: {err}") from err
        if not isinstance(document, dict):
            raise TenancyError(f'{setting} must be a JSON object {{"<ARN pattern>": "<tenant>"}}')
        rules: list[tuple[str, str | None]] = []
        for pattern, tenant in document.items():
            if not pattern.startswith("arn:") and pattern != "*":
                raise TenancyError(f"{setting}[{pattern!r}]: a pattern is an ARN (arn:...) or *")
            if tenant is not None and not (isinstance(tenant, str) and _TENANT.match(tenant)):
                raise TenancyError(
                    f"{setting}[{pattern!r}]: a tenant is 1-128 letters, digits and ._@+=- "
                    f"(starting with a letter or digit), or null to refuse; got {tenant!r}"
                )
            rules.extend((form, tenant) for form in _forms(pattern))
        return cls(tuple(rules))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TenantMap:
        return cls.parse((os.environ if environ is None else environ).get(ENV_TENANTS))

    def tenant_of(self, arn: str) -> str | None:
        """The tenant of a caller's ARN, or None (refused by a ``null`` rule, or no
        account in the ARN)."""
        for pattern, tenant in self.rules:
            if fnmatch.fnmatchcase(arn, pattern):
                return tenant
        return account_of(arn)

    def owner_tenant(self, stored_owner: str) -> str | None:
        """The tenant a scan's stored ``owner`` field stands for (the migration rule)."""
        return self.tenant_of(stored_owner) if stored_owner.startswith("arn:") else stored_owner


def account_of(arn: str) -> str | None:
    """The account id of ``arn:<partition>:<service>:<region>:<account>:...``."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and re.fullmatch(r"[0-9]{12}", parts[4]):
        return parts[4]
    return None


def _forms(pattern: str) -> list[str]:
    role = _ROLE_ARN.match(pattern)
    if role is None:
        return [pattern]
    partition, account, name = role.groups()
    return [pattern, f"arn:{partition}:sts::{account}:assumed-role/{name}/*"]


# ---- per-trial worker tokens ---------------------------------------------------------------


def trial_token_key(secret: str) -> bytes:
    """The key trial tokens are signed with, derived from a server secret (the default
    token: the local token file's first token, the stack secret's ``default``)."""
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def mint_trial_token(key: bytes, trial_id: str, attempt: int, expires_at: float) -> str:
    """``sft_<trial>.<attempt>.<expiry>.<mac>``: good for that attempt until ``expires_at``
    (epoch seconds) while the attempt runs."""
    body = f"{trial_id}.{int(attempt)}.{int(expires_at)}"
    return f"{TRIAL_TOKEN_PREFIX}{body}.{_mac(key, body)}"


def verify_trial_token(key: bytes, token: str | None, *, now: float) -> TrialGrant | None:
    """The grant of a well-formed, correctly signed, unexpired trial token, else None
    (the MAC compared in constant time; no store read)."""
    match = _TRIAL_TOKEN.match(token or "")
    if match is None:
        return None
    trial_id, attempt, expiry, mac = match.groups()
    body = f"{trial_id}.{attempt}.{expiry}"
    if not hmac.compare_digest(mac, _mac(key, body)) or int(expiry) <= now:
        return None
    return TrialGrant(trial_id, int(attempt))


def is_trial_token(token: str | None) -> bool:
    return bool(token) and str(token).startswith(TRIAL_TOKEN_PREFIX)


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
