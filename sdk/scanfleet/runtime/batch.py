"""The AWS Batch container entrypoint: ``python -m scanfleet.runtime.batch``.

Runs one trial, the one named by ``SCANFLEET_TRIAL_ID`` (or the next one of
``SCANFLEET_SCAN_ID``), through the API like any agent (``SCANFLEET_API_URL``;
``SCANFLEET_AUTH=iam`` signs with the job role), restoring its checkpoint first, and
exits with the ``ExitCode`` the job's retry strategy matches on.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from scanfleet import names
from scanfleet.client import Client
from scanfleet.records import scan_id_of
from scanfleet.runtime.agent import agent_from_env

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
    agent.adopt_claim = adopts_claim(env)
    code = agent.run_one(trial_id)
    log.info("trial %s: exit %d (%s)", trial_id or "(next)", code, code.name)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
