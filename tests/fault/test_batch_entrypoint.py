"""The AWS Batch entrypoint, run as the container runs it, against the local API with its
checkpoints in S3 (moto's server on loopback): each outcome has its exit code, and a
retried job resumes where the last one stopped.

Leases here are long (``LONG_LEASE_S``): a loaded machine may take seconds to start a job
or to send a heartbeat, and a lease that ran out on its own would change what is tested.
Where a test needs a lease to run out, it moves the local API's clock past it, after the
job has been seen waiting for it (its claim refused, in the server's access log)."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer
from scanfleet import names
from scanfleet.artifacts import CheckpointCopier
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState

from tests.fault.conftest import (
    EVERY,
    LONG_LEASE_S,
    STEPS,
    Harness,
    ServiceClock,
    scan_config,
    wait_until,
)

BUCKET = "scanfleet-artifacts"
JOB_S = 60  # a job's whole run, on a loaded machine


@pytest.fixture
def s3_env(harness: Harness, local_api: LocalServer) -> Iterator[dict[str, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    harness.env.pop(names.ENV_CHECKPOINT_URL)
    # the local API stands in for the API Lambda, whose checkpoint root is the bucket's
    local_api.service.context.artifacts = CheckpointCopier(root=f"s3://{BUCKET}/checkpoints")
    yield {names.ENV_BUCKET_NAME: BUCKET, "AWS_ENDPOINT_URL_S3": endpoint}
    server.stop()


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The local server's access log (one DEBUG record per request, with its status)."""
    caplog.set_level(logging.DEBUG, logger="scanfleet.local.server")
    return caplog


def one_trial(harness: Harness, **config: object) -> tuple[object, str]:
    config.setdefault("execution", {"lease_seconds": LONG_LEASE_S})
    scan = harness.create_scan(scan_config(**config))  # type: ignore[arg-type]
    trial = scan.add_trial({})  # queued, as the state machine's claim step leaves it
    return scan, trial.id


def expire_once_refused(
    job: subprocess.Popen[bytes], trial_id: str, log: pytest.LogCaptureFixture, clock: ServiceClock
) -> None:
    """Once ``job`` has been refused the claim of ``trial_id`` (its holder's lease is live),
    move the API's clock past that lease: the job must have waited for it to run out."""
    refused = f'"POST /trials/{trial_id}/claim HTTP/1.1" 409'

    def waiting() -> bool:
        assert job.poll() is None, f"the job ended ({job.returncode}) instead of waiting"
        return any(refused in record.getMessage() for record in log.records)

    wait_until(waiting, JOB_S, lambda: "the job never asked for the trial")
    clock.advance(LONG_LEASE_S + 1)


def test_a_sigtermed_job_exits_75_and_its_retry_resumes_from_s3(
    harness: Harness, s3_env: dict[str, str]
) -> None:
    scan, trial_id = one_trial(harness)
    first = harness.batch_job(trial_id, **s3_env)
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(1)) >= 7)
    first.send_signal(signal.SIGTERM)  # what ECS does when Spot reclaims the host
    assert first.wait(timeout=JOB_S) == names.ExitCode.INTERRUPTED, harness.worker_log()
    checkpoint = harness.trial(scan).checkpoint  # type: ignore[arg-type]
    assert checkpoint.uri.startswith(f"s3://{BUCKET}/checkpoints/")

    retry = harness.batch_job(trial_id, via="file", **s3_env)  # Batch: same job, attempt 2
    assert retry.wait(timeout=JOB_S) == names.ExitCode.OK, harness.worker_log()
    trial = harness.trial(scan)  # type: ignore[arg-type]
    assert trial.state is TrialState.COMPLETED and trial.preemptions == 1
    assert trial.worker_id is None or trial.worker_id.startswith("batch-job-1")
    assert sorted(harness.ledger.steps_of()) == list(range(STEPS))


def test_a_job_whose_machine_vanished_is_retried_after_the_lease_runs_out(
    harness: Harness,
    s3_env: dict[str, str],
    service_clock: ServiceClock,
    access_log: pytest.LogCaptureFixture,
) -> None:
    scan, trial_id = one_trial(harness)
    first = harness.batch_job(trial_id, **s3_env)
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(1)) >= EVERY + 2)
    first.send_signal(signal.SIGKILL)  # the host is gone: no goodbye, the lease stays
    first.wait(timeout=10)
    retry = harness.batch_job(trial_id, **s3_env)
    expire_once_refused(retry, trial_id, access_log, service_clock)
    assert retry.wait(timeout=JOB_S) == names.ExitCode.OK, harness.worker_log()
    trial = harness.trial(scan)  # type: ignore[arg-type]
    assert (trial.state, trial.attempt, trial.preemptions) == (TrialState.COMPLETED, 2, 1)
    assert harness.ledger.steps_of(2)[0] == EVERY
    assert len(harness.ledger.lines()) <= STEPS + EVERY


def test_a_failing_script_asks_for_a_retry_until_its_budget_is_spent(harness: Harness) -> None:
    _, trial_id = one_trial(harness, params={"crash_at": 2}, retries={"max_errors": 1})
    assert harness.batch_job(trial_id).wait(timeout=JOB_S) == names.ExitCode.REQUEUED
    assert harness.batch_job(trial_id).wait(timeout=JOB_S) == names.ExitCode.SCRIPT_FAILED
    assert harness.batch_job(trial_id).wait(timeout=JOB_S) == names.ExitCode.NOTHING_TO_DO


def test_without_a_scan_or_trial_the_job_says_what_to_set() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scanfleet.runtime.batch"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=JOB_S,
    )
    assert done.returncode == names.ExitCode.USAGE
    assert f"set {names.ENV_SCAN_ID} or {names.ENV_TRIAL_ID}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_claim_the_state_machine_made_is_adopted_by_the_first_attempt(
    harness: Harness,
) -> None:
    scan, trial_id = one_trial(harness, steps=5)
    harness.client.claim_trial(trial_id, "lane-1")  # the state machine's claim
    lane = {names.ENV_WORKER_ID: "lane-1", "AWS_BATCH_JOB_ATTEMPT": "1"}
    assert harness.batch_job(trial_id, **lane).wait(timeout=JOB_S) == names.ExitCode.OK
    trial = harness.trial(scan)  # type: ignore[arg-type]
    assert (trial.state, trial.attempt, trial.preemptions) == (TrialState.COMPLETED, 1, 0)


def test_a_retried_attempt_waits_for_the_lease_of_the_claim_it_was_given(
    harness: Harness, service_clock: ServiceClock, access_log: pytest.LogCaptureFixture
) -> None:
    scan, trial_id = one_trial(harness, steps=5)
    harness.client.claim_trial(trial_id, "lane-1")  # the state machine's claim
    lane = {names.ENV_WORKER_ID: "lane-1", "AWS_BATCH_JOB_ATTEMPT": "2"}
    job = harness.batch_job(trial_id, **lane)
    # a retry cannot tell its own old claim from a live one: it waits for the lease
    expire_once_refused(job, trial_id, access_log, service_clock)
    assert job.wait(timeout=JOB_S) == names.ExitCode.OK, harness.worker_log()
    trial = harness.trial(scan)  # type: ignore[arg-type]
    assert (trial.state, trial.attempt, trial.preemptions) == (TrialState.COMPLETED, 2, 1)


def test_a_missing_input_fails_the_trial_for_good_with_its_reason(
    harness: Harness, s3_env: dict[str, str]
) -> None:
    scan, trial_id = one_trial(harness, dataset=f"s3://{BUCKET}/datasets/none")
    job = harness.batch_job(trial_id, **s3_env)
    assert job.wait(timeout=JOB_S) == names.ExitCode.INPUT_INVALID, harness.worker_log()
    trial = harness.trial(scan)  # type: ignore[arg-type]
    assert trial.state is TrialState.FAILED
    assert trial.failure_reason == f"inputs: dataset: nothing at s3://{BUCKET}/datasets/none"
    assert "Traceback" not in harness.worker_log()
    assert harness.ledger.lines() == []  # the script never ran


def test_an_input_out_of_reach_gives_the_claim_back_and_asks_for_a_retry(
    harness: Harness, s3_env: dict[str, str]
) -> None:
    scan, trial_id = one_trial(harness, dataset=f"s3://{BUCKET}/datasets/first")
    boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL_S3"]).put_object(
        Bucket=BUCKET, Key="datasets/first/a.csv", Body=b"1"
    )
    harness.client.claim_trial(trial_id, "lane-1")  # the state machine's claim
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}"
    lane = {names.ENV_WORKER_ID: "lane-1", "AWS_BATCH_JOB_ATTEMPT": "1"}
    job = harness.batch_job(
        trial_id, **lane, **{**s3_env, "AWS_ENDPOINT_URL_S3": nowhere, "AWS_MAX_ATTEMPTS": "1"}
    )
    assert job.wait(timeout=JOB_S) == names.ExitCode.INPUTS_UNAVAILABLE, harness.worker_log()
    assert names.ExitCode.INPUTS_UNAVAILABLE.retry
    trial = harness.trial(scan)  # type: ignore[arg-type]
    assert (trial.state, trial.preemptions, trial.errors) == (TrialState.QUEUED, 1, 0)
    assert "Traceback" not in harness.worker_log()

    retry = {**lane, "AWS_BATCH_JOB_ATTEMPT": "2"}  # S3 is back: the retried job runs it
    assert harness.batch_job(trial_id, **retry, **s3_env).wait(timeout=JOB_S) == names.ExitCode.OK
    assert harness.trial(scan).state is TrialState.COMPLETED  # type: ignore[arg-type]
