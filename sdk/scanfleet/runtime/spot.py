"""The Spot interruption notice, read from the EC2 instance metadata service (IMDSv2).

EC2 announces a reclaim two minutes ahead at ``/latest/meta-data/spot/instance-action``
(404 until then). The watcher polls it every 5 s from a thread and calls back once.
Its endpoint comes from ``SCANFLEET_METADATA_URL`` (tests run a fake server on loopback);
without it the watcher runs only on EC2, which is known from local files, not the network.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scanfleet import names

log = logging.getLogger("scanfleet.spot")

IMDS_URL = "http://169.254.169.254"
TOKEN_PATH = "/latest/api/token"
INSTANCE_ACTION_PATH = "/latest/meta-data/spot/instance-action"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TOKEN_TTL_S = 21600
DEFAULT_INTERVAL_S = 5.0
NOTICE_MARGIN_S = 20.0  # a notice's 2 minutes, less this, go to the checkpoint
_EC2_MARKERS = (  # (file, what its content starts with on an EC2 instance)
    ("devices/virtual/dmi/id/board_asset_tag", "i-"),
    ("devices/virtual/dmi/id/sys_vendor", "Amazon EC2"),
    ("hypervisor/uuid", "ec2"),
)


@dataclass(frozen=True)
class SpotNotice:
    """What EC2 will do to the instance (``terminate``, ``stop``, ``hibernate``) and when
    (epoch seconds; None when the notice has no parseable time)."""

    action: str
    at: float | None

    def seconds_left(self, now: float) -> float | None:
        return None if self.at is None else self.at - now

    @classmethod
    def from_json(cls, body: bytes) -> SpotNotice:
        data = json.loads(body)
        at = None
        if isinstance(data.get("time"), str):
            at = datetime.fromisoformat(data["time"].replace("Z", "+00:00")).timestamp()
        return cls(action=str(data.get("action", "terminate")), at=at)


def notice_deadline(notice: SpotNotice, now: float, longest: float) -> float:
    """Seconds the script gets to checkpoint after a notice: ``longest``, or less so that
    ``NOTICE_MARGIN_S`` remain before the instance goes (to record and stop)."""
    left = notice.seconds_left(now)
    if left is None:
        return longest
    return max(0.0, min(longest, left - NOTICE_MARGIN_S))


class InstanceMetadata:
    """A small IMDSv2 client: a session token (PUT), then GETs that carry it."""

    def __init__(self, base_url: str = IMDS_URL, *, timeout: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token: str | None = None
        self._token_expires = 0.0

    def _get_token(self) -> str:
        if self._token is None or time.monotonic() >= self._token_expires:
            request = urllib.request.Request(
                self.base_url + TOKEN_PATH,
                method="PUT",
                headers={TOKEN_TTL_HEADER: str(TOKEN_TTL_S)},
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                self._token = answer.read().decode().strip()
            self._token_expires = time.monotonic() + TOKEN_TTL_S - 60
        return self._token

    def spot_notice(self) -> SpotNotice | None:
        """The pending interruption, or None.

        Raises:
            OSError: the metadata service did not answer (urllib's errors are OSErrors).
        """
        for _ in range(2):  # a token the service no longer accepts: get a new one, once
            request = urllib.request.Request(
                self.base_url + INSTANCE_ACTION_PATH, headers={TOKEN_HEADER: self._get_token()}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    return SpotNotice.from_json(answer.read())
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    return None
                if error.code != 401:
                    raise
                self._token = None
        return None


class SpotWatcher:
    """Polls for a notice from a daemon thread; calls ``on_notice`` once, then stops."""

    def __init__(
        self,
        metadata: InstanceMetadata,
        on_notice: Callable[[SpotNotice], None],
        *,
        interval: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.metadata = metadata
        self.on_notice = on_notice
        self.interval = interval
        self.notice: SpotNotice | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> SpotNotice | None:
        """Poll once; a notice found is handed to ``on_notice`` (once for the watcher)."""
        if self.notice is not None:
            return self.notice
        try:
            notice = self.metadata.spot_notice()
        except (OSError, ValueError) as exc:
            log.debug("instance metadata did not answer: %s", exc)
            return None
        if notice is not None:
            self.notice = notice
            log.warning("spot interruption notice: %s at %s", notice.action, notice.at)
            self.on_notice(notice)
        return notice

    def start(self) -> SpotWatcher:
        self._thread = threading.Thread(target=self._loop, name="spot-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set() and self.check() is None:
            self._stop.wait(self.interval)


def metadata_url_from(env: Mapping[str, str], sys_root: Path = Path("/sys")) -> str | None:
    """The metadata endpoint to watch, or None: ``SCANFLEET_METADATA_URL`` (``off``
    disables), else the real one when this machine is an EC2 instance."""
    url = env.get(names.ENV_METADATA_URL)
    if url:
        return None if url.strip().lower() == names.METADATA_OFF else url
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
        return None
    return IMDS_URL if on_ec2(sys_root) else None


def on_ec2(sys_root: Path = Path("/sys")) -> bool:
    for relative, prefix in _EC2_MARKERS:
        try:
            if (sys_root / relative).read_text().strip().startswith(prefix):
                return True
        except OSError:
            continue
    return False


def watcher_from(
    env: Mapping[str, str], on_notice: Callable[[SpotNotice], None]
) -> SpotWatcher | None:
    """A watcher configured from the environment, or None where there is nothing to watch."""
    url = metadata_url_from(env)
    if url is None:
        return None
    interval = float(env.get(names.ENV_METADATA_INTERVAL) or DEFAULT_INTERVAL_S)
    return SpotWatcher(InstanceMetadata(url), on_notice, interval=interval)
