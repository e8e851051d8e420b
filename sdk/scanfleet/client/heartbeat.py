"""Keeping a claimed trial's lease alive while its work runs elsewhere (a script, or the
caller's own code between two Oscar/Schedy calls).

One thread per held trial renews the lease every ``heartbeat_interval(lease_seconds)``
until it is stopped. A renewal the API refuses (``lease_lost``: another attempt holds the
trial; ``trial_finished``: e.g. the scan was cancelled) ends the thread and is reported;
an API that does not answer for now is tried again at the next beat.

It lives in the client because both the worker's agent loop and the compat loops in
``scanfleet.client.compat`` use it (imports run downward: the worker imports the client,
never the reverse).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from scanfleet.client._errors import ConflictError, LeaseLostError
from scanfleet.client._trial import Trial

log = logging.getLogger("scanfleet.heartbeat")

BEATS_PER_LEASE = 3  # a lease is renewed this many times within its length
MIN_INTERVAL_S = 0.05


def heartbeat_interval(lease_seconds: float) -> float:
    """Seconds between two renewals of a lease of ``lease_seconds``: the lease over
    ``BEATS_PER_LEASE`` (so two beats may fail before the lease runs out)."""
    return max(MIN_INTERVAL_S, lease_seconds / BEATS_PER_LEASE)


class Heartbeat:
    """A thread that renews ``trial``'s lease every ``interval`` seconds, as a context
    manager (or with ``start``/``stop``).

    Args:
        trial: a trial claimed through this SDK (``trial.heartbeat()`` renews its lease).
        interval: seconds between renewals (``heartbeat_interval`` of the scan's lease).
        on_conflict: called on the heartbeat's thread when the API refuses a renewal,
            after which the thread ends.
        join_timeout: how long ``stop`` waits for a renewal under way.
    """

    def __init__(
        self,
        trial: Trial,
        interval: float,
        *,
        on_conflict: Callable[[ConflictError], None] | None = None,
        join_timeout: float = 5.0,
    ) -> None:
        self.trial = trial
        self.interval = max(MIN_INTERVAL_S, interval)
        self.on_conflict = on_conflict
        self.join_timeout = join_timeout
        self.conflict: ConflictError | None = None  # the refusal that ended the beats
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease_lost(self) -> bool:
        """Whether the API said another attempt holds the trial now."""
        return isinstance(self.conflict, LeaseLostError)

    @property
    def beating(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(
            target=self._run, name=f"scanfleet-heartbeat-{self.trial.id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the beats; waits up to ``join_timeout`` for a renewal under way."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.join_timeout)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.trial.heartbeat()
            except ConflictError as exc:  # lease lost, or the trial was finished
                self.conflict = exc
                if self.on_conflict is not None:
                    self.on_conflict(exc)
                return
            except Exception as exc:  # the API is unreachable for now: try at the next beat
                log.warning("heartbeat of %s failed: %s", self.trial.id, exc)
