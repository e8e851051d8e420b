"""How a Batch job ended, from what Step Functions hands the finish step."""

from __future__ import annotations

import json

from scanfleet.cloud import JobOutcome

SPOT = "Host EC2 (instance i-0abc) terminated."


def test_a_pascal_case_description_with_a_reclaimed_attempt() -> None:
    outcome = JobOutcome.from_description(
        {
            "JobId": "j1",
            "Status": "SUCCEEDED",
            "Attempts": [
                {"StatusReason": SPOT, "Container": {"ExitCode": 75}},
                {
                    "StatusReason": "Essential container in task exited",
                    "Container": {"ExitCode": 0},
                },
            ],
        }
    )
    assert outcome.succeeded and outcome.spot_interruptions == 1
    assert not outcome.last_attempt_spot_reclaimed


def test_a_camel_case_description_from_describe_jobs() -> None:
    outcome = JobOutcome.from_description(
        {
            "jobId": "j2",
            "status": "FAILED",
            "statusReason": "Essential container in task exited",
            "attempts": [{"statusReason": "x", "container": {"exitCode": 1}}],
        }  # fmt: skip
    )
    assert not outcome.succeeded and outcome.attempts[0].exit_code == 1
    assert outcome.describe() == (
        "Batch job j2 FAILED (Essential container in task exited; exit code 1)"
    )


def test_the_workers_interruption_exit_code_is_a_spot_reclaim() -> None:
    attempt = {"StatusReason": "exited", "Container": {"ExitCode": 75}}
    cause = json.dumps({"JobId": "j3", "Status": "FAILED", "Attempts": [attempt]})
    outcome = JobOutcome.from_error({"Error": "States.TaskFailed", "Cause": cause})
    assert outcome.last_attempt_spot_reclaimed and outcome.job_id == "j3"


def test_an_error_before_the_job_ran_is_no_reclaim() -> None:
    outcome = JobOutcome.from_error({"Error": "Batch.ClientException", "Cause": "no such queue"})
    assert outcome.status == "ERROR" and outcome.attempts == []
    assert not outcome.last_attempt_spot_reclaimed
    assert "Batch.ClientException: no such queue" in outcome.describe()
