"""The transport: JSON over HTTP(S) with retries, backoff and idempotency keys."""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from scanfleet.client._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    make_status_error,
)
from scanfleet.names import HEADER_IDEMPOTENCY_KEY

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 8.0


class Transport:
    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float,
        max_retries: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        """Send, retrying on 408/429/5xx and connection errors. Every non-GET call has one
        Idempotency-Key, reused across its retries. Returns (status, parsed JSON or None)."""
        url = self.url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET":
            headers[HEADER_IDEMPOTENCY_KEY] = str(uuid.uuid4())
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                return self._send(method, url, data, headers)
            except APIStatusError as exc:
                if last or exc.status_code not in RETRY_STATUSES:
                    raise
                self.sleep(_backoff(attempt, exc.retry_after))
            except APIConnectionError:
                if last:
                    raise
                self.sleep(_backoff(attempt, None))
        raise AssertionError("unreachable")

    def _send(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Any]:
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")
            exc = make_status_error(err.code, parsed)
            exc.retry_after = _retry_after(err.headers.get("Retry-After"))
            raise exc from None
        except TimeoutError as err:
            raise APITimeoutError(f"{method} {url} timed out after {self.timeout}s") from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError | socket.timeout):
                raise APITimeoutError(f"{method} {url} timed out") from err
            raise APIConnectionError(f"cannot reach {url}: {err.reason}") from err
        except (ConnectionError, OSError) as err:
            raise APIConnectionError(f"cannot reach {url}: {err}") from err


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Capped exponential backoff with full jitter; the server's Retry-After wins."""
    if retry_after is not None:
        return min(retry_after, 60.0)
    return random.uniform(0, min(MAX_BACKOFF_S, 0.5 * 2**attempt))
