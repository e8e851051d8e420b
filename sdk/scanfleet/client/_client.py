"""``Client``: the entry point of the SDK."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scanfleet.client._auth import auth_for
from scanfleet.client._http import RetryPolicy, Transport
from scanfleet.client._scan import Scan
from scanfleet.client._trial import Trial
from scanfleet.config import ScanConfig, load_config, local_inputs
from scanfleet.errors import AlreadyClaimedError
from scanfleet.records import ScanStatus, TrialRecord, TrialState
from scanfleet.wire import ENV_API_URL, ENV_TOKEN, ScanList, ScanSummary

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_RETRIES = 4


class Client:
    """The scanfleet API over HTTP(S).

    Every setting comes from its argument, else the environment, else the default:

    - ``url``: ``SCANFLEET_API_URL`` (required; ``scanfleet local serve`` prints it).
    - ``token``: ``SCANFLEET_TOKEN`` (the bearer token).
    - ``auth``: ``SCANFLEET_AUTH``, ``"token"`` (default) or ``"iam"`` (SigV4 with the AWS
      credential chain; needs botocore).
    - ``timeout``: seconds per request; ``max_retries``: retries of one call (408, 429, 5xx,
      no answer) with capped, jittered backoff that honours ``Retry-After``.
    - ``worker_id``: who claims trials in ``Scan.next_trial`` and ``claim_trial`` (default:
      host-pid-random).
    - ``sleep``: the function that waits between retries and polls (tests pass a fake).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        auth: str | None = None,
        worker_id: str | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        env = os.environ
        url = url or env.get(ENV_API_URL)
        if not url:
            raise ValueError(
                f"no scanfleet API URL: pass Client(url=...) or set {ENV_API_URL} "
                "(`scanfleet local serve` prints it; in AWS it is the stack's ApiUrl output)"
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the API URL must be http(s)://host[:port][/stage], got {url!r}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        token = token or env.get(ENV_TOKEN) or None
        retry = RetryPolicy(max_retries=max_retries)
        if sleep is not None:
            retry.sleep = sleep
        self.http = Transport(
            url,
            auth_for(url, auth=auth, token=token, env=env),
            timeout=timeout,
            retry=retry,
            user_agent=f"scanfleet-python/{_version()}",
        )
        self.worker_id = worker_id or (
            f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )

    def __repr__(self) -> str:
        return f"Client(url={self.url!r})"

    @property
    def url(self) -> str:
        return self.http.url

    # ---- scans -----------------------------------------------------------------------------

    def create_scan(
        self,
        name: str,
        config: ScanConfig | dict[str, Any] | str | Path,
        *,
        idempotency_key: str | None = None,
    ) -> Scan:
        """Create a scan from a ScanConfig, a dict, or a YAML/JSON path or text.

        A ``script`` that is a file on this machine is uploaded with the scan (workers run
        the stored copy); a ``requirements`` file is sent as its list (docs/inputs.md).

        The config is validated here first, so a mistake raises ``ConfigError`` naming
        every field path before any request. A retried call (or one repeated with the same
        ``idempotency_key``) returns the first scan instead of creating another.

        Raises:
            ConfigError: the config is invalid.
            BadRequestError: the server rejected it (``invalid_config``, with details).
        """
        validated, script_content = local_inputs(load_config(config))
        body: dict[str, Any] = {
            "name": name,
            "config": validated.model_dump(mode="json", exclude_unset=True),
        }
        if script_content is not None:  # a script on this machine travels with the scan
            body["script_content"] = script_content
        data = self.http.request("POST", "/scans", body, idempotency_key=idempotency_key).body
        return Scan(self, ScanSummary.model_validate(data))

    def get_scan(self, scan_id: str) -> Scan:
        """Raises NotFoundError (also for a scan of another identity)."""
        data = self.http.request("GET", f"/scans/{scan_id}").body
        return Scan(self, ScanSummary.model_validate(data))

    def list_scans(
        self, status: ScanStatus | str | None = None, tag: str | None = None
    ) -> list[Scan]:
        """Your scans, optionally only those in ``status`` or tagged ``key:value``."""
        query = {"status": ScanStatus(status).value if status else None, "tag": tag}
        data = self.http.request("GET", "/scans", query=query).body
        return [Scan(self, ScanSummary(scan=s)) for s in ScanList.model_validate(data).scans]

    def get_trial(self, trial_id: str) -> Trial:
        data = self.http.request("GET", f"/trials/{trial_id}").body
        return Trial(self, TrialRecord.model_validate(data))

    def claim_trial(
        self, trial_id: str, worker_id: str | None = None, *, lease_seconds: float | None = None
    ) -> Trial:
        """Claim one named QUEUED trial (a Batch job runs the trial the state machine
        chose), as ``worker_id`` (default: this client's). A holder whose lease ran out
        loses the trial first. A retried call whose first request claimed the trial (its
        answer was lost) returns that claim.

        Raises:
            ConflictError: ``already_claimed`` (another worker holds it) or
                ``trial_finished``.
            ScanFinishedError (GoneError, 410): the scan is finished.
            NotFoundError: no such trial (or another identity's).
        """
        worker = worker_id or self.worker_id
        body: dict[str, Any] = {"worker_id": worker}
        if lease_seconds is not None:
            body["lease_seconds"] = lease_seconds
        try:
            record = TrialRecord.model_validate(
                self.http.request("POST", f"/trials/{trial_id}/claim", body).body
            )
        except AlreadyClaimedError as error:
            if error.attempts <= 1:  # else our own first attempt may hold it (answer lost)
                raise
            record = self.get_trial(trial_id).record
            if record.state is not TrialState.RUNNING or record.worker_id != worker:
                raise
        return Trial(self, record, worker_id=worker, attempt=record.attempt)

    # ---- Oscar's loop (scanfleet.client.compat.oscar) ----------------------------------------

    def suggest(self, experiment: dict[str, Any]) -> Any:
        """Oscar's ``suggest``: the next job (a dict of parameters) of the experiment named
        ``experiment["name"]``, made from this dict the first time. See docs/compat.md."""
        return self._oscar().suggest(experiment)

    def update(self, job: dict[str, Any], result: dict[str, float] | float) -> Trial:
        """Oscar's ``update``: the result of a job (``{"loss": ...}``) completes its trial."""
        return self._oscar().update(job, result)

    def _oscar(self) -> Any:
        if getattr(self, "_oscar_loop", None) is None:
            from scanfleet.client.compat.oscar import Oscar

            self._oscar_loop = Oscar(self)
        return self._oscar_loop

    def health(self) -> bool:
        """True when the API answers ``/health``."""
        return bool((self.http.request("GET", "/health").body or {}).get("status") == "ok")


def _version() -> str:
    from scanfleet import __version__

    return __version__
