"""Resource tokens (experimaestro) for GPUs: a worker with N GPUs runs N // k trials of
k GPUs at once, each pinned to its own devices through ``CUDA_VISIBLE_DEVICES``.

Every trial of a scan needs the same ``resources.gpus`` (k), so the worker's GPUs are
split once into disjoint slots of k devices, and one agent loop runs per slot. The agent
itself is unchanged: ``SlotPool`` wraps as many of them as there are slots, in threads,
and passes each its devices in the environment of the trials it starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from scanfleet import names
from scanfleet.runtime.supervisor import on_stop_signals

log = logging.getLogger("scanfleet.slots")

CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"


class SlotError(ValueError):
    """The worker's GPUs cannot hold one trial of the scan, or ``--gpus`` is malformed."""


def gpu_devices(spec: str, env: Mapping[str, str]) -> list[str]:
    """The GPUs a worker may use: ``"2"`` → the first two of the worker's own
    ``CUDA_VISIBLE_DEVICES`` when set (else ``0``, ``1``); ``"1,3"`` → those devices."""
    spec = spec.strip()
    if spec.isdigit():
        count = int(spec)
        visible = [d.strip() for d in env.get(CUDA_VISIBLE_DEVICES, "").split(",") if d.strip()]
        if CUDA_VISIBLE_DEVICES in env and count > len(visible):
            raise SlotError(
                f"--gpus {count}: only {len(visible)} visible "
                f"({CUDA_VISIBLE_DEVICES}={env[CUDA_VISIBLE_DEVICES]!r})"
            )
        return visible[:count] if CUDA_VISIBLE_DEVICES in env else [str(i) for i in range(count)]
    devices = [d.strip() for d in spec.split(",")]
    if not all(devices) or len(set(devices)) != len(devices):
        raise SlotError(f"--gpus must be a count or distinct device ids like 0,1 (got {spec!r})")
    return devices


def partition(devices: Sequence[str], per_trial: int) -> list[list[str]]:
    """Disjoint slots of ``per_trial`` devices (spare devices stay idle). A CPU-only
    scan (``per_trial`` 0) gets one slot with no device.

    Raises:
        SlotError: one trial needs more GPUs than the worker has.
    """
    if per_trial == 0:
        return [[]]
    if per_trial > len(devices):
        raise SlotError(
            f"each trial of this scan needs {per_trial} GPU(s) (resources.gpus) and this "
            f"worker has {len(devices)}: give it more with --gpus, or lower resources.gpus"
        )
    count = len(devices) // per_trial
    return [list(devices[i * per_trial : (i + 1) * per_trial]) for i in range(count)]


class SlotAgent(Protocol):
    """What the pool needs of an agent (``scanfleet.runtime.agent.Agent``)."""

    sigterm_deadline: float

    def run(self) -> int: ...

    def interrupt(self, reason: str, deadline_s: float) -> None: ...


class SlotPool:
    """Runs one agent per slot at once and stops them all on SIGTERM/SIGINT.

    Args:
        slots: the devices of each slot (``partition``).
        make_agent: builds the agent of slot ``i`` with the environment of its trials.
    """

    def __init__(
        self,
        slots: Sequence[Sequence[str]],
        make_agent: Callable[[int, dict[str, str]], SlotAgent],
    ) -> None:
        self.agents = [
            make_agent(i, {CUDA_VISIBLE_DEVICES: ",".join(devices)})
            for i, devices in enumerate(slots)
        ]
        self.codes: list[int | None] = [None] * len(self.agents)

    def run(self) -> int:
        """Work until every agent is done; the exit code is the most telling of theirs
        (interrupted, then a script failure, then any other, then OK)."""
        threads = [
            threading.Thread(target=self._run_one, args=(i,), name=f"slot-{i}", daemon=True)
            for i in range(len(self.agents))
        ]
        on_stop_signals(self.stop)
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)  # the main thread stays free to take signals
        return combined_exit_code([c if c is not None else 1 for c in self.codes])

    def stop(self, reason: str = "worker stopped") -> None:
        for agent in self.agents:
            threading.Thread(
                target=agent.interrupt, args=(reason, agent.sigterm_deadline), daemon=True
            ).start()

    def _run_one(self, i: int) -> None:
        try:
            self.codes[i] = self.agents[i].run()
        except Exception:
            log.exception("the agent of slot %d failed", i)
            self.codes[i] = names.ExitCode.SCRIPT_FAILED


def combined_exit_code(codes: Sequence[int]) -> int:
    for telling in (names.ExitCode.INTERRUPTED, names.ExitCode.SCRIPT_FAILED):
        if telling in codes:
            return int(telling)
    return max(codes, default=int(names.ExitCode.OK))


def gpu_pool(
    client: Any,
    scan_id: str,
    gpus: str,
    env: Mapping[str, str],
    *,
    worker_id: str | None = None,
    **options: Any,
) -> SlotPool:
    """The pool of ``scanfleet worker --gpus``: the scan's ``resources.gpus`` per trial,
    one agent (``agent_from_env``, with ``options``) per slot of the worker's GPUs.

    Raises:
        SlotError: ``gpus`` is malformed, or holds fewer GPUs than one trial needs.
    """
    import os
    import socket

    from scanfleet.runtime.agent import agent_from_env

    per_trial = client.get_scan(scan_id).config.resources.gpus
    slots = partition(gpu_devices(gpus, env), per_trial)
    base = worker_id or f"{socket.gethostname()}-{os.getpid()}"
    log.info("worker %s: %d slot(s) of %d GPU(s): %s", base, len(slots), per_trial, slots)

    def make_agent(i: int, extra_env: dict[str, str]) -> SlotAgent:
        return agent_from_env(
            client, scan_id, env, worker_id=f"{base}-slot{i}", extra_env=extra_env, **options
        )

    return SlotPool(slots, make_agent)
