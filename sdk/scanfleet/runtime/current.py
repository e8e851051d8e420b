"""What a training script sees: ``scanfleet.current_trial()``.

Under a worker, the trial comes from the environment the worker set; run by hand, a
no-op handle gives the ``--name=value`` flags as params, so a script runs standalone.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from scanfleet import names


class CurrentTrial:
    """The running trial, as the training script sees it."""

    def __init__(
        self,
        *,
        params: dict[str, Any],
        trial_id: str | None = None,
        resume_step: int = 0,
        checkpoint_dir: Path | None = None,
        remote: Any = None,
        result_file: Path | None = None,
    ) -> None:
        self.params = params
        self.id = trial_id
        self.resume_step = resume_step
        self.checkpoint_dir = checkpoint_dir or Path.cwd() / "checkpoints"
        self._remote = remote  # a scanfleet.client.Trial, or None when run by hand
        self._prune = False
        self.last_reported: dict[str, tuple[int, float]] = {}
        self._result_file = result_file
        self.completed = False

    @property
    def attached(self) -> bool:
        """True when a worker runs this script (reports reach the API)."""
        return self._remote is not None

    def report(self, name: str, value: float, step: int) -> bool:
        """Report an intermediate value; True when the trial should stop (pruned)."""
        self.last_reported[name] = (step, float(value))
        if self._remote is not None:
            self._prune = self._remote.report(name, float(value), step)
        self._save_results()
        return self._prune

    def should_prune(self) -> bool:
        return self._prune

    def complete(self, value: float | dict[str, float]) -> None:
        """Finish the trial with its final metric(s) (optional: the worker completes it
        from the last reported value otherwise)."""
        if self._remote is not None:
            self._remote.complete(value)
        self.completed = True
        self._save_results()

    def _save_results(self) -> None:
        """Leave the last reports where the worker reads them when the script exits."""
        if self._result_file is None:
            return
        data = {"last": self.last_reported, "completed": self.completed, "prune": self._prune}
        tmp = self._result_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self._result_file)


_current: CurrentTrial | None = None


def current_trial() -> CurrentTrial:
    """The trial this process runs (built once from the environment)."""
    global _current
    if _current is None:
        _current = _from_environment(os.environ, sys.argv[1:])
    return _current


def _from_environment(env: Any, argv: list[str]) -> CurrentTrial:
    trial_id = env.get(names.ENV_TRIAL_ID)
    params = json.loads(env[names.ENV_PARAMS]) if env.get(names.ENV_PARAMS) else parse_flags(argv)
    resume_step = int(env.get(names.ENV_RESUME_STEP) or 0)
    ckpt = env.get(names.ENV_CHECKPOINT_DIR)
    result_file = env.get(names.ENV_RESULT_FILE)
    remote = None
    if trial_id and env.get(names.ENV_API_URL):
        from scanfleet.client import Client, Trial
        from scanfleet.records import TrialRecord, TrialState

        client = Client(url=env[names.ENV_API_URL], token=env.get(names.ENV_TOKEN))
        record = TrialRecord(
            scan_id=trial_id.rpartition("-")[0],
            trial_id=trial_id,
            number=0,
            params=params,
            state=TrialState.RUNNING,
            attempt=int(env.get(names.ENV_ATTEMPT) or 1),
            worker_id=env.get(names.ENV_WORKER_ID),
        )
        remote = Trial(client, record)
    return CurrentTrial(
        params=params,
        trial_id=trial_id,
        resume_step=resume_step,
        checkpoint_dir=Path(ckpt) if ckpt else None,
        remote=remote,
        result_file=Path(result_file) if result_file else None,
    )


def parse_flags(argv: list[str]) -> dict[str, Any]:
    """``--name=value`` flags as params; values parsed as JSON when they are JSON."""
    params: dict[str, Any] = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            continue
        name, _, raw = arg[2:].partition("=")
        try:
            params[name] = json.loads(raw)
        except ValueError:
            params[name] = raw
    return params
