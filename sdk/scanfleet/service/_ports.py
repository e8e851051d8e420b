"""The ports of the service: behaviour that differs between the laptop and the cloud,
injected into the use cases instead of inherited.

- :class:`ScanLifecycle` hears when a scan starts, runs again, or stops. Locally nothing
  needs to happen (:class:`QuietLifecycle`); in AWS ``scanfleet.cloud.ScanExecutions``
  starts and stops the scan's state machine executions.
- :class:`ArtifactCopier` copies a parent's checkpoint for a population-based-training
  child (``scanfleet.artifacts.CheckpointCopier`` by default: a local folder or S3).
"""

from __future__ import annotations

from typing import Protocol

from scanfleet.records import ScanRecord


class ScanLifecycle(Protocol):
    """Told of the moments a scan starts, runs again and stops, after the store has
    recorded them. Called for every scan, whatever its execution type: an implementation
    picks the scans it cares about. A hook that raises makes the use case raise (the
    store keeps what it recorded)."""

    def on_started(self, scan: ScanRecord) -> None:
        """A scan was created (not when a retried create named an existing one)."""

    def on_reopened(self, scan: ScanRecord) -> None:
        """A COMPLETED scan runs again (extended, a trial added, seed runs queued, marked
        RUNNING); ``scan`` is as stored after the change."""

    def on_stopped(self, scan: ScanRecord, *, reason: str) -> None:
        """A scan was cancelled (after its trials were failed; called again when cancelled
        again), or is about to be deleted (``scan`` is the last read of it)."""


class QuietLifecycle:
    """The lifecycle of local mode and of agents: nothing to start or stop."""

    def on_started(self, scan: ScanRecord) -> None:
        return None

    def on_reopened(self, scan: ScanRecord) -> None:
        return None

    def on_stopped(self, scan: ScanRecord, *, reason: str) -> None:
        return None


class ArtifactCopier(Protocol):
    """Says which checkpoint locations a trial may record, and copies a parent's
    checkpoint for a child trial (population-based training)."""

    def check(self, uri: str, scan_id: str, trial_id: str) -> str:
        """``uri`` when it lies inside the trial's folder of the checkpoint root.

        Raises:
            scanfleet.artifacts.ArtifactError: it does not (``LocationError``).
        """
        ...

    def copy(self, uri: str, parent_trial_id: str, child_trial_id: str) -> str:
        """The URI of ``child_trial_id``'s own copy of the checkpoint at ``uri`` (made only
        from inside the parent's folder of the checkpoint root, checked again here).

        Raises:
            scanfleet.artifacts.ArtifactError, OSError or ValueError (a URI no store can
            read): the child then starts from scratch.
        """
        ...
