"""Leases kept alive for trials handed out to code that does not heartbeat (Oscar's and
Schedy's loops run the training between two calls, for as long as it takes)."""

from __future__ import annotations

import threading

from scanfleet.client._trial import Trial
from scanfleet.client.heartbeat import Heartbeat, heartbeat_interval


class Leases:
    """A heartbeat (``scanfleet.client.heartbeat``) for every job still out. A job whose
    lease was lost or that was finished elsewhere stops beating; ``update()`` says so."""

    def __init__(self) -> None:
        self._beats: dict[str, Heartbeat] = {}
        self._lock = threading.Lock()

    def keep(self, trial: Trial, lease_seconds: float) -> None:
        """Renew ``trial``'s lease (of ``lease_seconds``) until it is dropped."""
        beat = Heartbeat(trial, heartbeat_interval(lease_seconds))
        with self._lock:
            old = self._beats.pop(trial.id, None)
            self._beats[trial.id] = beat.start()
        if old is not None:
            old.stop()

    def drop(self, trial: Trial) -> None:
        with self._lock:
            beat = self._beats.pop(trial.id, None)
        if beat is not None:
            beat.stop()

    def close(self) -> None:
        with self._lock:
            beats, self._beats = list(self._beats.values()), {}
        for beat in beats:
            beat.stop()
