"""The transport: JSON over HTTP(S) with retries, backoff and idempotency keys.

Standard library only. A call goes straight through ``http.client`` when no proxy can
apply (a loopback API, or no ``*_proxy`` variable on Linux), else through
``urllib.request`` with the environment's proxies (imported then: it costs a training
script a dozen modules). The retry policy is two small functions, ``should_retry`` and
``retry_delay``, so it can be read and tested on its own.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlencode, urlsplit

from scanfleet.errors import APIError, APIStatusError
from scanfleet.names import HEADER_IDEMPOTENCY_KEY, ErrorCode
from scanfleet.transport.answers import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    make_status_error,
)
from scanfleet.transport.auth import Auth, TokenAuth

TYPE_CHECKING = False  # typing is not imported at run time: a script's path
if TYPE_CHECKING:
    from typing import Any

LOGGER = "scanfleet.client"  # the SDK's logger, whichever path sends

INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is not waited for; our own backoff is used


class Response:
    """One answer: its status, its body parsed (None for an empty one, 204) and headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def __repr__(self) -> str:
        return f"Response(status={self.status}, body={self.body!r})"


class RetryPolicy:
    """How many times and how long. ``sleep`` and ``random`` are injectable for tests.
    (A plain class: ``dataclasses`` would import ``inspect`` on a training script's path.)"""

    def __init__(
        self,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.max_retries = max_retries
        self.sleep = sleep
        self.random = random

    def __repr__(self) -> str:
        return f"RetryPolicy(max_retries={self.max_retries})"


def new_idempotency_key() -> str:
    """A random (version 4) UUID as text, without ``uuid``, which imports ``platform``."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def should_retry(error: APIError) -> bool:
    """Retry when no answer came, on 408, 429 and 5xx; never on a 409: a conflict
    (``lease_lost``, ``trial_finished``, ...) is an answer about the state, not an
    accident, and a race the store lost is its own 503 ``store_busy``. Nor on a 502
    ``run_not_started``: AWS answered, and the scan is FAILED with that answer."""
    if isinstance(error, APIConnectionError):
        return True
    if not isinstance(error, APIStatusError) or error.code == ErrorCode.RUN_NOT_STARTED:
        return False
    status = error.status_code
    return status in (408, 429) or status >= 500


def retry_delay(retries_done: int, retry_after: float | None, rand: float) -> float:
    """Seconds to wait before the next attempt: the server's ``Retry-After`` when it gave a
    sane one, else exponential from 0.5 s, capped at 8 s, minus up to 25 % jitter."""
    if retry_after is not None and 0 <= retry_after <= MAX_RETRY_AFTER_S:
        return retry_after
    delay = min(INITIAL_RETRY_DELAY_S * 2**retries_done, MAX_RETRY_DELAY_S)
    return delay * (1 - 0.25 * rand)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds or as an HTTP date; ``retry-after-ms`` too."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return float(lowered["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _opener_for(url: str) -> Any:
    """A ``urllib`` opener with the environment's proxies that never follows a redirect
    (a redirected POST would turn into a GET)."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    proxies = urllib.request.getproxies()
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies), NoRedirects())


def _no_proxy_applies(url: str, env: Mapping[str, str]) -> bool:
    """True when a call to ``url`` goes to the server itself: a loopback host, or no
    proxy variable set on Linux (elsewhere the system may configure proxies)."""
    if _is_loopback(urlsplit(url).hostname or ""):
        return True
    no_proxy_vars = not any(name.lower().endswith("_proxy") for name in env)
    return no_proxy_vars and sys.platform.startswith("linux")


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "::1") or host.startswith("127."):
        return True
    import ipaddress  # only for a host that is not plainly loopback

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Transport:
    """Sends one API call, retrying it as the policy says.

    Every non-GET call carries one ``Idempotency-Key`` (uuid4), reused across its retries.
    """

    def __init__(
        self,
        url: str,
        auth: Auth | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str = "scanfleet-python",
    ) -> None:
        self.url = url.rstrip("/")
        self.auth = auth or TokenAuth(None)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.user_agent = user_agent
        self._direct = _no_proxy_applies(self.url, os.environ)
        self._opener: Any = None if self._direct else _opener_for(self.url)

    @property
    def token(self) -> str | None:
        """The bearer token, when token auth is used."""
        return self.auth.token if isinstance(self.auth, TokenAuth) else None

    @property
    def sleep(self) -> Callable[[float], None]:
        return self.retry.sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], None]) -> None:
        self.retry.sleep = value

    @property
    def max_retries(self) -> int:
        return self.retry.max_retries

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Response:
        """One API call. Returns the answer of the first attempt that got a success.

        Raises:
            APIStatusError: (a subclass per status) the API answered with an error status
                that is not retried, or retries ran out.
            APIConnectionError, APITimeoutError: no answer, after the retries.
        """
        url = self.url + path
        wanted = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if wanted:
            url += "?" + urlencode(wanted, quote_via=quote)
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if method != "GET":
            headers[HEADER_IDEMPOTENCY_KEY] = idempotency_key or new_idempotency_key()
        retries_done = 0
        while True:
            try:
                return self._send(method, url, data, headers)
            except APIError as error:
                error.attempts = retries_done + 1
                if retries_done >= self.retry.max_retries or not should_retry(error):
                    raise
                retry_after = error.retry_after if isinstance(error, APIStatusError) else None
                delay = retry_delay(retries_done, retry_after, self.retry.random())
                import logging  # only when a call is retried: not on a script's happy path

                logging.getLogger(LOGGER).info(
                    "%s %s: %s; retrying in %.2fs", method, path, error, delay
                )
                self.retry.sleep(delay)
                retries_done += 1

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Response:
        """One attempt, signed afresh.

        Raises:
            APIStatusError: an answer whose status is not 2xx (a redirect too).
            APIConnectionError, APITimeoutError, APIResponseError.
        """
        signed = self.auth.sign(method, url, headers, data)
        try:
            if self._direct:
                status, raw, answer_headers = self._exchange(method, url, data, signed)
            else:
                status, raw, answer_headers = self._exchange_by_urllib(method, url, data, signed)
        except TimeoutError as err:
            raise APITimeoutError(f"{method} {url}: no answer in {self.timeout}s") from err
        except APIConnectionError:
            raise
        except (OSError, http.client.HTTPException) as err:
            raise APIConnectionError(f"{method} {url}: connection lost: {err!r}") from err
        if 200 <= status < 300:
            return Response(status, _parse_success(raw), answer_headers)
        error = make_status_error(status, _parse_error(raw), answer_headers)
        error.retry_after = parse_retry_after(answer_headers)
        raise error

    def _exchange(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request and its answer over a connection of its own (``http.client``)."""
        parts = urlsplit(url)
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname or "", parts.port, timeout=self.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            try:
                connection.connect()
            except TimeoutError:
                raise  # no answer in time: APITimeoutError, as urllib's path says it
            except OSError as err:
                raise APIConnectionError(f"{method} {url}: cannot connect: {err}") from err
            connection.request(method, target, body=data, headers=headers)
            answer = connection.getresponse()
            raw = answer.read()
            return answer.status, raw, dict(answer.getheaders())
        finally:
            connection.close()

    def _exchange_by_urllib(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """The same through ``urllib.request``, for the environment's proxies."""
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return answer.status, answer.read(), dict(answer.headers.items())
        except urllib.error.HTTPError as err:
            answer_headers = dict(err.headers.items()) if err.headers else {}
            try:
                raw = err.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            return err.code, raw, answer_headers
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise TimeoutError(str(err.reason)) from err
            raise APIConnectionError(f"{method} {url}: cannot connect: {err.reason}") from err


def _parse_success(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        message = f"the API answered with something that is not JSON: {raw[:200]!r}"
        raise APIResponseError(message) from None


def _parse_error(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
