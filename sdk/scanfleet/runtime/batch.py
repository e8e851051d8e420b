"""The AWS Batch container entrypoint: ``python -m scanfleet.runtime.batch``.

Runs one trial, the one named by ``SCANFLEET_TRIAL_ID`` (or the next one of
``SCANFLEET_SCAN_ID``), through the API like any agent (``SCANFLEET_API_URL``;
``SCANFLEET_AUTH=iam`` signs with the job role), restoring its checkpoint first, and
exits with the ``ExitCode`` the job's retry strategy matches on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from scanfleet import names
from scanfleet.client import (
    AlreadyClaimedError,
    APIConnectionError,
    Client,
    ConflictError,
    GoneError,
    InternalServerError,
    Trial,
)
from scanfleet.config import ScanConfig
from scanfleet.records import TrialState, scan_id_of
from scanfleet.runtime.agent import Agent, agent_from_env
from scanfleet.runtime.inputs import InputError, InputUnavailableError
from scanfleet.runtime.outcome import exit_code_for
from scanfleet.runtime.supervisor import metric_pattern

log = logging.getLogger("scanfleet.batch")


def worker_id_from(env: Mapping[str, str]) -> str | None:
    """``SCANFLEET_WORKER_ID`` when the state machine claimed the trial in that name, else
    ``batch-<job id>-<attempt>`` inside AWS Batch, so a trial's worker names its job."""
    if env.get(names.ENV_WORKER_ID):
        return env[names.ENV_WORKER_ID]
    job = env.get("AWS_BATCH_JOB_ID")
    if not job:
        return None
    return f"batch-{job}-{env.get('AWS_BATCH_JOB_ATTEMPT', '1')}"


def adopts_claim(env: Mapping[str, str]) -> bool:
    """A job's first attempt runs a trial the state machine already claimed in the name
    it passed; a retried attempt must not (its predecessor held that claim) and claims
    the trial anew once the old lease has run out, which counts the preemption."""
    return bool(env.get(names.ENV_WORKER_ID)) and env.get("AWS_BATCH_JOB_ATTEMPT", "1") == "1"


class OneTrial:
    """One trial run by ``agent``, the named one or the next, and how it went as an exit
    code (the job's retry strategy matches on it).

    Args:
        trial_id: the trial the state machine chose (None: the scan's next one).
        adopt_claim: a trial RUNNING under the agent's worker id is ours to run (the
            state machine claimed it in our name).
    """

    def __init__(self, agent: Agent, trial_id: str | None, *, adopt_claim: bool = False) -> None:
        self.agent = agent
        self.trial_id = trial_id
        self.adopt_claim = adopt_claim

    def run(self) -> names.ExitCode:
        with self.agent.working() as going:
            return self._run() if going else names.ExitCode.INTERRUPTED

    def _run(self) -> names.ExitCode:
        agent = self.agent
        try:
            scan = agent.client.get_scan(agent.scan_id)
            try:
                config = agent.prepare_inputs(scan.config)
            except InputError as exc:
                return self._inputs_failed(exc, scan.config)
            trial = self._claim_named(config) if self.trial_id else scan.next_trial(agent.worker_id)
        except GoneError:
            return names.ExitCode.NOTHING_TO_DO
        except (APIConnectionError, InternalServerError) as exc:
            log.error("the API did not answer: %s", exc)
            return names.ExitCode.API_UNAVAILABLE
        if trial is None:  # stopped while waiting for the trial: let Batch try again
            return names.ExitCode.INTERRUPTED if agent.stopping else names.ExitCode.NOTHING_TO_DO
        outcome = agent.run_trial(trial, config, metric_pattern(config))
        return exit_code_for(outcome, agent.settle(trial, config, outcome))

    def _inputs_failed(self, error: InputError, config: ScanConfig) -> names.ExitCode:
        """The run inputs could not be made ready, so the trial cannot start here. A missing
        or invalid input fails the named trial for good (every attempt would meet it; the
        reason is on the trial). One that could not be fetched right now gives back a claim
        the state machine made for us, as an interruption (not the script's fault), and the
        job asks to be retried."""
        log.error("trial %s: %s", self.trial_id or "(next)", error)
        if isinstance(error, InputUnavailableError):
            held = self._adopt() if self.trial_id else None
            if held is not None:
                with contextlib.suppress(ConflictError):
                    held.fail(f"inputs unavailable: {error}", preempted=True)
            return names.ExitCode.INPUTS_UNAVAILABLE
        trial = self._claim_named(config) if self.trial_id else None
        if trial is not None:
            with contextlib.suppress(ConflictError):
                trial.fail(f"inputs: {error}", retry=False)
        return names.ExitCode.INPUT_INVALID

    def _adopt(self) -> Trial | None:
        """With ``adopt_claim``, the trial when the state machine claimed it in our name."""
        if not self.adopt_claim or self.trial_id is None:
            return None
        agent = self.agent
        held = agent.client.get_trial(self.trial_id)
        if held.state is TrialState.RUNNING and held.record.worker_id == agent.worker_id:
            mine = Trial(agent.client, held.record, worker_id=agent.worker_id)
            with contextlib.suppress(ConflictError):
                return mine.heartbeat()
        return None

    def _claim_named(self, config: ScanConfig) -> Trial | None:
        """Claim the trial the state machine chose. A retried job may find it still held
        by its previous attempt (the machine vanished): wait for that lease to run out.
        With ``adopt_claim``, a claim the state machine made in our name is taken over."""
        assert self.trial_id is not None
        adopted = self._adopt()
        if adopted is not None:
            return adopted
        agent = self.agent
        give_up = time.monotonic() + config.execution.lease_seconds * 2 + 5
        while True:
            try:
                return agent.client.claim_trial(self.trial_id, agent.worker_id)
            except ConflictError as exc:
                if not isinstance(exc, AlreadyClaimedError) or time.monotonic() > give_up:
                    log.warning("trial %s: %s", self.trial_id, exc)
                    return None
                if agent.pause(agent.poll_interval):
                    return None


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    trial_id = env.get(names.ENV_TRIAL_ID) or None
    scan_id = env.get(names.ENV_SCAN_ID) or (scan_id_of(trial_id) if trial_id else "")
    if not scan_id:
        print(f"error: set {names.ENV_SCAN_ID} or {names.ENV_TRIAL_ID}", file=sys.stderr)
        return names.ExitCode.USAGE
    try:
        client = Client()  # URL, auth and token from the environment
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return names.ExitCode.USAGE
    agent = agent_from_env(
        client,
        scan_id,
        env,
        worker_id=worker_id_from(env),
        logs_dir=Path(env.get(names.ENV_LOGS_DIR, "/tmp/scanfleet-logs")),
        max_trials=1,
    )
    agent.echo_output = True
    code = OneTrial(agent, trial_id, adopt_claim=adopts_claim(env)).run()
    log.info("trial %s: exit %d (%s)", trial_id or "(next)", code, code.name)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
