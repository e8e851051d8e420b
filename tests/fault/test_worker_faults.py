"""A trial survives losing its machine: SIGKILL, a Spot notice, SIGTERM; a crashing script
spends its error budget and only that."""

from __future__ import annotations

import signal
import time

import pytest
from scanfleet import names
from scanfleet.records import TrialState

from tests.fault.conftest import EVERY, LONG_LEASE_S, STEPS, Harness, scan_config
from tests.fault.imds import FakeMetadata

CRASH_AT = 15  # steps: time enough for the preemption to land first


def test_a_sigkilled_worker_loses_its_lease_and_another_resumes_from_the_checkpoint(
    harness: Harness,
) -> None:
    scan = harness.create_scan(scan_config())
    first = harness.worker(scan)
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(1)) >= 2 * EVERY + 2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    checkpoint = harness.trial(scan).checkpoint
    assert checkpoint is not None and checkpoint.step >= 2 * EVERY

    second = harness.worker(scan)
    assert second.wait(timeout=30) == names.ExitCode.OK, harness.worker_log()
    trial = harness.trial(scan)
    assert trial.state is TrialState.COMPLETED and trial.values["steps"] == STEPS
    assert (trial.attempt, trial.preemptions, trial.errors) == (2, 1, 0)
    resumed = harness.ledger.steps_of(2)
    assert resumed[0] == checkpoint.step  # the second attempt started at the checkpoint
    assert resumed == list(range(checkpoint.step, STEPS))
    assert len(harness.ledger.lines()) <= STEPS + EVERY


def test_a_spot_notice_checkpoints_now_requeues_as_a_preemption_and_loses_no_step(
    harness: Harness, metadata: FakeMetadata
) -> None:
    scan = harness.create_scan(scan_config())
    first = harness.worker(scan, **{names.ENV_METADATA_URL: metadata.url})
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(1)) >= 7)  # mid-interval
    metadata.announce(in_seconds=120)
    assert first.wait(timeout=20) == names.ExitCode.INTERRUPTED, harness.worker_log()
    assert metadata.tokens_issued >= 1 and metadata.rejected == 0

    done_before = len(harness.ledger.steps_of(1))
    trial = harness.trial(scan)
    assert trial.state is TrialState.QUEUED
    assert (trial.preemptions, trial.errors) == (1, 0)
    assert trial.checkpoint is not None and trial.checkpoint.step == done_before

    second = harness.worker(scan)
    assert second.wait(timeout=30) == names.ExitCode.OK, harness.worker_log()
    assert harness.trial(scan).state is TrialState.COMPLETED
    assert sorted(harness.ledger.steps_of()) == list(range(STEPS))  # each step once


def test_sigterm_checkpoints_now_and_requeues_like_a_notice(harness: Harness) -> None:
    scan = harness.create_scan(scan_config())
    first = harness.worker(scan)
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(1)) >= 7)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == names.ExitCode.INTERRUPTED, harness.worker_log()

    trial = harness.trial(scan)
    assert trial.state is TrialState.QUEUED and (trial.preemptions, trial.errors) == (1, 0)
    assert trial.checkpoint is not None
    assert trial.checkpoint.step == len(harness.ledger.steps_of(1))
    assert "SIGTERM" in (trial.failure_reason or "")

    second = harness.worker(scan)
    assert second.wait(timeout=30) == names.ExitCode.OK, harness.worker_log()
    assert harness.trial(scan).state is TrialState.COMPLETED
    assert sorted(harness.ledger.steps_of()) == list(range(STEPS))


def test_a_crashing_script_fails_after_its_error_budget_and_preemptions_do_not_count(
    harness: Harness,
) -> None:
    max_errors = 2
    config = scan_config(params={"crash_at": CRASH_AT}, retries={"max_errors": max_errors})
    scan = harness.create_scan(config)
    first = harness.worker(scan)
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(1)) >= 2)
    first.send_signal(signal.SIGTERM)  # a preemption before the first crash
    assert first.wait(timeout=20) == names.ExitCode.INTERRUPTED, harness.worker_log()
    assert harness.trial(scan).preemptions == 1

    second = harness.worker(scan)
    assert second.wait(timeout=30) == names.ExitCode.OK, harness.worker_log()
    trial = harness.trial(scan)
    assert trial.state is TrialState.FAILED
    assert (trial.preemptions, trial.errors) == (1, max_errors)
    crashed_attempts = {a for _, a, s in harness.ledger.lines() if s == CRASH_AT - 1}
    assert crashed_attempts == {2, 3, 4}  # max_errors + 1 runs crashed; attempt 1 was preempted
    assert "exit code 3" in (trial.failure_reason or "")


LOOPING_SCRIPT = """
import time
import scanfleet
trial = scanfleet.current_trial()
if trial.params["listens"]:
    trial.checkpoint_requested  # looked once, never answers
open("started", "w").close()
time.sleep(60)
"""


CHECKPOINT_DEADLINE_S = 5  # a loaded machine takes ~2 s to stop a worker that does not wait


@pytest.mark.parametrize(
    "listens, waited",
    [
        (False, (0.0, CHECKPOINT_DEADLINE_S)),
        (True, (CHECKPOINT_DEADLINE_S, 2 * CHECKPOINT_DEADLINE_S)),
    ],
    ids=["deaf", "stuck"],
)
def test_the_worker_waits_for_a_checkpoint_only_from_a_listening_script_and_only_until_its_deadline(
    harness: Harness, listens: bool, waited: tuple[float, float]
) -> None:
    (harness.root / "loop.py").write_text(LOOPING_SCRIPT)
    # the lease is not what is tested: a long one cannot run out while the worker stops
    config = scan_config(params={"listens": listens}, execution={"lease_seconds": LONG_LEASE_S})
    config["command"] = "python loop.py"
    scan = harness.create_scan(config)
    deadline = {names.ENV_CHECKPOINT_DEADLINE: str(CHECKPOINT_DEADLINE_S)}
    worker = harness.worker(scan, **deadline)
    started = harness.root / "started"
    harness.ledger.wait_for(started.exists)
    time.sleep(0.3)
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == names.ExitCode.INTERRUPTED, harness.worker_log()
    assert waited[0] <= time.monotonic() - sent < waited[1]
    trial = harness.trial(scan)
    assert (trial.state, trial.preemptions, trial.checkpoint) == (TrialState.QUEUED, 1, None)
