"""What a training script sees: ``scanfleet.current_trial()``.

Under a worker, the trial comes from the environment the worker set; run by hand, a
no-op handle gives the ``--name=value`` flags as params, so a script runs standalone.

Light on purpose: ``import scanfleet`` and this module, with the calls a script makes
(``report``, ``complete``, ``save_checkpoint``, ``tag``), import the standard library and
``scanfleet.transport`` only — no pydantic, boto3 or optuna (``bench/import_time.py``
measures it; a test guards it). The calls speak the full SDK's protocol through the same
transport.

"Checkpoint now" reaches the script through a file the worker creates (its path is in
``SCANFLEET_CHECKPOINT_NOW_FILE``; it holds a request id). The script answers by calling
``save_checkpoint``, which writes the id it answered into the result file the worker reads.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from scanfleet import names

TYPE_CHECKING = False  # typing is not imported at run time: a script's path
if TYPE_CHECKING:
    from typing import Any

    from scanfleet.transport import TrialCalls

LOGGER = "scanfleet.current"  # logging is imported when there is something to log

_REQUEST_POLL_S = 0.2


class CurrentTrial:
    """The running trial, as the training script sees it."""

    def __init__(
        self,
        *,
        params: dict[str, Any],
        trial_id: str | None = None,
        resume_step: int = 0,
        checkpoint_dir: Path | None = None,
        remote: TrialCalls | None = None,
        result_file: Path | None = None,
        attempt: int = 1,
        checkpoint_url: str | None = None,
        request_file: Path | None = None,
        stop_step: int | None = None,
    ) -> None:
        self.params = params
        self.id = trial_id
        self.attempt = attempt
        self.resume_step = resume_step
        # population-based training: the step to train to, then complete (None otherwise)
        self.stop_step = stop_step
        self._checkpoint_dir = checkpoint_dir  # None: run by hand, ./checkpoints
        self._remote = remote  # a scanfleet.transport.TrialCalls, or None when run by hand
        self._prune = False
        self.last_reported: dict[str, tuple[int, float]] = {}
        self._result_file = result_file
        self.completed = False
        self._checkpoint_url = checkpoint_url
        self._request_file = request_file
        self._listening = False  # the worker waits for a requested checkpoint only if so
        self._answered: int | None = None
        self.checkpoint_step: int | None = None
        self.checkpoint_uri: str | None = None

    @property
    def checkpoint_dir(self) -> Path:
        """The folder to save checkpoints in (restored into on a resumed attempt). Run by
        hand it is ``./checkpoints``, created when first asked for, so a script that
        writes into it runs standalone too."""
        if self._checkpoint_dir is None:
            self._checkpoint_dir = Path.cwd() / "checkpoints"
            self._checkpoint_dir.mkdir(parents=True, exist_ok=True)
        return self._checkpoint_dir

    @property
    def attached(self) -> bool:
        """True when a worker runs this script (reports reach the API)."""
        return self._remote is not None

    @property
    def dataset(self) -> Path | None:
        """Where the scan's ``dataset`` is on this machine (docs/inputs.md), or None."""
        return _input_path(names.ENV_DATASET)

    @property
    def base_model(self) -> Path | None:
        """Where the scan's ``base_model`` is on this machine (docs/inputs.md), or None."""
        return _input_path(names.ENV_BASE_MODEL)

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
        from the last reported value otherwise). With a dict, the last value of each
        other metric reported goes with it (``val_acc``: a column of the results)."""
        if isinstance(value, dict):  # the given values win over the last reported ones
            reported = {n: v for n, (_, v) in self.last_reported.items() if v - v == 0}  # finite
            value = {**reported, **value}
        if self._remote is not None:
            self._remote.complete(value)
        self.completed = True
        self._save_results()

    def tag(self, tags: dict[str, str] | None = None, **more: str) -> None:
        """Merge tags into this trial (``trial.tag(regime="high-lr")``), to find it with
        ``scanfleet scans export --tag`` or ``Scan.to_csv(tags=...)``. Run by hand: nothing."""
        if self._remote is not None:
            self._remote.tag(tags, **more)

    # ---- checkpoints -----------------------------------------------------------------

    def save_checkpoint(self, step: int) -> str | None:
        """Store ``checkpoint_dir`` as the checkpoint after ``step`` steps (to S3 in AWS,
        to the state directory locally) and record it through the API: the next attempt
        starts with this folder restored and ``resume_step == step``.

        Returns:
            The checkpoint's URI; None when run by hand (the folder stays as it is) or
            when the API could not record it (logged; the previous checkpoint stands).
        """
        self._listen()
        request = self._request_id()
        uri = None
        if self._remote is not None and self._checkpoint_url is not None and self.id:
            from scanfleet.errors import APIError
            from scanfleet.runtime.checkpoints import checkpoint_store

            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            store = checkpoint_store(self._checkpoint_url)
            uri = store.upload(
                self.checkpoint_dir, trial_id=self.id, step=step, attempt=self.attempt
            )
            try:
                recorded = self._remote.checkpoint(step, uri).get("checkpoint") or {}
            except APIError as exc:
                import logging

                logging.getLogger(LOGGER).error("checkpoint of step %d not recorded: %s", step, exc)
                return None
            if recorded.get("uri") == uri:
                store.discard_older(uri)
        self.checkpoint_step, self.checkpoint_uri = step, uri
        self._answered = request
        self._save_results()
        return uri

    @property
    def checkpoint_requested(self) -> bool:
        """True when the worker asks for a checkpoint now (Spot notice, SIGTERM): call
        ``save_checkpoint(step)``; the worker then stops this run and re-queues the trial."""
        self._listen()
        request = self._request_id()
        return request is not None and request != self._answered

    def on_checkpoint_request(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` from a background thread when a checkpoint is asked for
        (most scripts set a flag there and save at the end of the current step)."""
        self._listen()

        def watch() -> None:
            seen = None
            while True:
                request = self._request_id()
                if request is not None and request not in (seen, self._answered):
                    seen = request
                    callback()
                threading.Event().wait(_REQUEST_POLL_S)

        threading.Thread(target=watch, name="checkpoint-requests", daemon=True).start()

    def _request_id(self) -> int | None:
        if self._request_file is None:
            return None
        try:
            return int(json.loads(self._request_file.read_text())["id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _listen(self) -> None:
        if not self._listening:
            self._listening = True
            self._save_results()

    def _save_results(self) -> None:
        """Leave the last reports where the worker reads them when the script exits."""
        if self._result_file is None:
            return
        data = {
            "last": self.last_reported,
            "completed": self.completed,
            "prune": self._prune,
            "listening": self._listening,
            "checkpoint_step": self.checkpoint_step,
            "answered_request": self._answered,
        }
        tmp = self._result_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self._result_file)


def _input_path(env_name: str) -> Path | None:
    value = os.environ.get(env_name)
    return Path(value) if value else None


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
    stop_step = env.get(names.ENV_STOP_STEP)
    ckpt = env.get(names.ENV_CHECKPOINT_DIR)
    result_file = env.get(names.ENV_RESULT_FILE)
    request_file = env.get(names.ENV_CHECKPOINT_NOW_FILE)
    attempt = int(env.get(names.ENV_ATTEMPT) or 1)
    remote = None
    if trial_id and env.get(names.ENV_API_URL):
        from scanfleet.transport import Transport, TrialCalls, auth_for, user_agent

        url = env[names.ENV_API_URL]
        auth = auth_for(url, auth=None, token=env.get(names.ENV_TOKEN) or None, env=env)
        transport = Transport(url, auth, user_agent=user_agent())
        remote = TrialCalls(transport, trial_id, attempt=attempt)
    return CurrentTrial(
        params=params,
        trial_id=trial_id,
        resume_step=resume_step,
        checkpoint_dir=Path(ckpt) if ckpt else None,
        remote=remote,
        result_file=Path(result_file) if result_file else None,
        attempt=attempt,
        checkpoint_url=env.get(names.ENV_CHECKPOINT_URL) or None,
        request_file=Path(request_file) if request_file else None,
        stop_step=int(stop_step) if stop_step else None,
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
