"""Handlers the patch tests dispatch to (the stack's own handlers are in lambdas/)."""

from __future__ import annotations

import os
from typing import Any

# the lane whose claim raises (tests/cloud/test_failure_paths.py sets it; unset: none)
FAIL_CLAIM_ON_LANE = "SCANFLEET_TEST_FAIL_CLAIM_ON_LANE"


def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"n": event["n"] * 2, "function": context.function_name}


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError("the handler refused")


def claim_failing_on_one_lane(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The stack's claim handler, except on the lane ``FAIL_CLAIM_ON_LANE`` names: there it
    raises, as a claim whose store call or code breaks does (the Claim function of the
    deployment is pointed here by the test)."""
    from tests.cloud.iam_enforcement import container_module

    orchestration = container_module("lambdas.orchestration")  # the Claim function's own
    if str(event.get("lane")) == os.environ.get(FAIL_CLAIM_ON_LANE):
        raise RuntimeError(f"injected: the claim of lane {event['lane']} broke")
    return orchestration.claim(event, context)  # type: ignore[no-any-return]
