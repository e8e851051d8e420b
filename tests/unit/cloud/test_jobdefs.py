"""A scan with its own image runs a copy of the stack's job definition with that image."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from scanfleet.cloud import JobDefinitions, image_definition_name

REGION = "us-east-1"
STRATEGY = {"attempts": 5, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"}]}


@pytest.fixture
def batch() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("batch", region_name=REGION)


def _stack_definition(batch: Any) -> str:
    return str(
        batch.register_job_definition(
            jobDefinitionName="scanfleet-job",
            type="container",
            containerProperties={
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:v1",
                "command": ["python", "-m", "scanfleet.runtime.batch"],
                "environment": [{"name": "SCANFLEET_AUTH", "value": "iam"}],
                "resourceRequirements": [
                    {"type": "MEMORY", "value": "14000"},
                    {"type": "VCPU", "value": "4"},
                    {"type": "GPU", "value": "1"},
                ],
            },
            retryStrategy=STRATEGY,
            timeout={"attemptDurationSeconds": 3600},
        )["jobDefinitionArn"]
    )


def _describe(batch: Any, arn: str) -> dict[str, Any]:
    (found,) = batch.describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"]
    return found  # type: ignore[no-any-return]


def test_a_scan_without_an_image_uses_the_stacks_definition(batch: Any) -> None:
    base = _stack_definition(batch)
    assert JobDefinitions(base, batch=batch).for_image(None) == base


def test_a_scan_image_gets_a_copy_with_everything_else_kept(batch: Any) -> None:
    base = _stack_definition(batch)
    definitions = JobDefinitions(base, batch=batch)
    arn = definitions.for_image("ghcr.io/lab/trainer:2.1")
    copy, original = _describe(batch, arn), _describe(batch, base)
    assert copy["jobDefinitionName"] == image_definition_name(
        "scanfleet-job", "ghcr.io/lab/trainer:2.1"
    )
    assert copy["containerProperties"]["image"] == "ghcr.io/lab/trainer:2.1"
    assert copy["retryStrategy"] == original["retryStrategy"]
    assert copy["retryStrategy"]["attempts"] == 5
    assert copy["timeout"] == {"attemptDurationSeconds": 3600}
    for key in ("command", "environment", "resourceRequirements"):
        assert copy["containerProperties"][key] == original["containerProperties"][key]


def test_scans_with_the_same_image_share_one_definition(batch: Any) -> None:
    definitions = JobDefinitions(_stack_definition(batch), batch=batch)
    first = definitions.for_image("ghcr.io/lab/trainer:2.1")
    assert definitions.for_image("ghcr.io/lab/trainer:2.1") == first
    assert definitions.for_image("ghcr.io/lab/trainer:2.2") != first
