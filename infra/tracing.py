"""X-Ray sampling: heartbeats are sampled, not traced one by one.

API Gateway and the Lambdas trace with X-Ray (active tracing); the API Lambda follows
the sampling decision API Gateway made for the request. X-Ray's default rule keeps the
first request each second and 5 % of the rest, which at the rates of a scan (a heartbeat
per busy worker every lease / 3 seconds) is nearly every heartbeat: a trace is $5 per
million, as much as the heartbeat's API request. This rule, matched before the default,
keeps 1 % of heartbeats and no reservoir; every other request keeps the default rule.
"""

from __future__ import annotations

from aws_cdk import Names
from aws_cdk import aws_xray as xray
from constructs import Construct

HEARTBEAT_URL_PATH = "*/heartbeat"  # POST /trials/{id}/heartbeat
HEARTBEAT_FIXED_RATE = 0.01
HEARTBEAT_RESERVOIR = 0
HEARTBEAT_PRIORITY = 100  # before the default rule (10000)


def heartbeat_sampling(scope: Construct) -> xray.CfnSamplingRule:
    """The sampling rule of the heartbeat route (its name unique to this stack)."""
    rule = xray.CfnSamplingRule(scope, "HeartbeatSampling")
    rule.sampling_rule = xray.CfnSamplingRule.SamplingRuleProperty(
        rule_name=f"beats-{Names.unique_id(rule)[-24:]}",  # X-Ray: at most 32 characters
        priority=HEARTBEAT_PRIORITY,
        fixed_rate=HEARTBEAT_FIXED_RATE,
        reservoir_size=HEARTBEAT_RESERVOIR,
        service_name="*",
        service_type="*",
        host="*",
        http_method="POST",
        url_path=HEARTBEAT_URL_PATH,
        resource_arn="*",
        version=1,
    )
    return rule
