"""Leases kept alive for trials handed out to code that does not heartbeat (Oscar's and
Schedy's loops run the training between two calls, for as long as it takes)."""

from __future__ import annotations

import threading

from scanfleet.client._errors import ConflictError
from scanfleet.client._trial import Trial


class Leases:
    """One daemon thread that heartbeats every job still out, while there is one."""

    def __init__(self) -> None:
        self._trials: dict[str, tuple[Trial, float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def keep(self, trial: Trial, interval: float) -> None:
        with self._lock:
            self._trials[trial.id] = (trial, max(0.05, interval))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="scanfleet-oscar-leases", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def drop(self, trial: Trial) -> None:
        with self._lock:
            self._trials.pop(trial.id, None)

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            with self._lock:
                out = list(self._trials.values())
                if not out:  # nothing to keep: the thread ends (keep() starts another)
                    self._thread = None
                    return
            interval = min(i for _, i in out)
            for trial, _ in out:
                try:
                    trial.heartbeat()
                except ConflictError:  # lost or finished: update() will say so
                    self.drop(trial)
                except Exception:  # the API is unreachable for now: try again later
                    pass
            self._wake.wait(interval)
            self._wake.clear()
