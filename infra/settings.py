"""Deployment settings: CDK context keys, their defaults and how they are checked.

Every key is listed once in :data:`CONTEXT`; ``docs/deploy.md`` documents the same list (a
test keeps them in step) and ``scanfleet deploy`` turns its flags into these keys. Pass them
with ``cdk deploy -c key=value`` or in ``cdk.json``. A wrong value stops the synth with a
message that names the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from scanfleet.tenancy import TenancyError, TenantMap

AuthMode = Literal["iam", "token", "both"]


@dataclass(frozen=True)
class ContextKey:
    name: str
    default: Any
    description: str


CONTEXT: tuple[ContextKey, ...] = (
    ContextKey(
        "gpuInstanceTypes",
        ["g5.xlarge", "g5.2xlarge", "g6.xlarge", "g4dn.xlarge", "g4dn.2xlarge"],
        "GPU instance types the Spot compute environment may launch (list, or comma-separated)",
    ),
    ContextKey("maxVcpus", 256, "upper bound of the Spot compute environment, in vCPUs"),
    ContextKey(
        "spotAllocationStrategy",
        "SPOT_PRICE_CAPACITY_OPTIMIZED",
        "Batch allocation strategy for Spot: SPOT_PRICE_CAPACITY_OPTIMIZED or "
        "SPOT_CAPACITY_OPTIMIZED",
    ),
    ContextKey(
        "onDemandFallback",
        False,
        "also create an On-Demand compute environment behind its own job queue "
        "(output FallbackJobQueueArn) for when Spot capacity does not come",
    ),
    ContextKey("onDemandMaxVcpus", 32, "upper bound of the On-Demand fallback, in vCPUs"),
    ContextKey(
        "onDemandAfterPreemptions",
        2,
        "with onDemandFallback: a trial preempted this many times (a Spot reclaim, or a job "
        "cancelled after runnableTimeoutMinutes in RUNNABLE) runs on the On-Demand queue",
    ),
    ContextKey(
        "runnableTimeoutMinutes",
        30,
        "Batch cancels a job that waits this long (10-1440) in RUNNABLE for lack of capacity, "
        "vCPU quota or a fitting instance; its trial goes back to the queue and the scan says why",
    ),
    ContextKey(
        "vpcId",
        None,
        "run Batch in this existing VPC (needs an account and region: CDK_DEFAULT_ACCOUNT/"
        "REGION or a configured profile); unset: the stack creates a VPC with public subnets "
        "in 2 AZs, no NAT gateway, flow logs on",
    ),
    ContextKey(
        "authMode",
        "both",
        "API auth: iam (SigV4), token (scanfleet tokens through a Lambda authorizer) or both "
        "(two endpoints: ApiUrl for IAM, AgentApiUrl for tokens)",
    ),
    ContextKey(
        "apiAccessLogs",
        True,
        "JSON access logs of the API stages; they need the region's API Gateway CloudWatch "
        "role, which the stack then sets (AWS::ApiGateway::Account, kept when the stack is "
        "deleted); false: no access logs, the account setting left alone",
    ),
    ContextKey("logRetentionDays", 30, "retention of every log group, in days"),
    ContextKey(
        "removalPolicy",
        "retain",
        "retain or destroy: what `cdk destroy` does with the table, bucket and log groups",
    ),
    ContextKey(
        "workerImage",
        None,
        "container image of the Batch job; unset: built from worker/Dockerfile as an asset",
    ),
    ContextKey("jobVcpus", 4, "vCPUs per trial job"),
    ContextKey("jobMemoryMiB", 14000, "memory per trial job, in MiB"),
    ContextKey("jobGpus", 1, "GPUs per trial job"),
    ContextKey("jobTimeoutMinutes", 720, "a trial job attempt is stopped after this long"),
    ContextKey(
        "jobAttempts", 5, "Batch attempts per job (1-10) for Spot reclaims and interruptions"
    ),
    ContextKey(
        "laneConcurrency",
        50,
        "reserved concurrency of each of the state machine's claim and finish functions: a "
        "burst of lanes cannot take the account's Lambda concurrency from the API; 0: none "
        "(an account whose Lambda concurrency quota is under 1,000)",
    ),
    ContextKey("reaperIntervalMinutes", 5, "how often the stale-lease reaper runs"),
    ContextKey("apiRateLimit", 100, "API Gateway steady-state requests per second"),
    ContextKey("apiBurstLimit", 200, "API Gateway burst requests"),
    ContextKey("checkpointExpiryDays", 30, "checkpoints older than this are deleted"),
    ContextKey("alarmEmail", None, "e-mail address subscribed to the alarm topic"),
    ContextKey(
        "tenants",
        None,
        "tenant mapping of IAM callers (JSON object, first match wins): ARN pattern → tenant, "
        "or null to refuse (403); a role ARN also matches its sessions; unset or unmatched: "
        "the caller's AWS account (docs/cloud.md, Tenancy)",
    ),
)
DEFAULTS = {key.name: key.default for key in CONTEXT}
ALLOCATION_STRATEGIES = ("SPOT_PRICE_CAPACITY_OPTIMIZED", "SPOT_CAPACITY_OPTIMIZED")
AUTH_MODES: tuple[AuthMode, ...] = ("iam", "token", "both")
REMOVAL_POLICIES = ("retain", "destroy")
# what CloudWatch Logs accepts (in the order of aws_logs.RetentionDays)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip


class SettingsError(ValueError):
    """A context value is not valid; the message names the key."""


@dataclass(frozen=True)
class Settings:
    gpu_instance_types: tuple[str, ...]
    max_vcpus: int
    spot_allocation_strategy: str
    on_demand_fallback: bool
    on_demand_max_vcpus: int
    on_demand_after_preemptions: int
    runnable_timeout_minutes: int
    vpc_id: str | None
    auth_mode: AuthMode
    api_access_logs: bool
    log_retention_days: int
    removal_policy: str
    worker_image: str | None
    job_vcpus: int
    job_memory_mib: int
    job_gpus: int
    job_timeout_minutes: int
    job_attempts: int
    lane_concurrency: int
    reaper_interval_minutes: int
    api_rate_limit: int
    api_burst_limit: int
    checkpoint_expiry_days: int
    alarm_email: str | None
    tenants: str | None = None  # SCANFLEET_TENANTS of the API function (JSON text)

    @classmethod
    def from_context(cls, get: Any) -> Settings:
        """``get``: ``node.try_get_context`` (values from ``-c`` arrive as text)."""
        raw = {key.name: _or_default(get(key.name), key.default) for key in CONTEXT}
        return cls(
            gpu_instance_types=_names(raw, "gpuInstanceTypes"),
            max_vcpus=_int(raw, "maxVcpus", low=1),
            spot_allocation_strategy=_choice(raw, "spotAllocationStrategy", ALLOCATION_STRATEGIES),
            on_demand_fallback=_bool(raw, "onDemandFallback"),
            on_demand_max_vcpus=_int(raw, "onDemandMaxVcpus", low=1),
            on_demand_after_preemptions=_int(raw, "onDemandAfterPreemptions", low=1),
            runnable_timeout_minutes=_int(raw, "runnableTimeoutMinutes", low=10, high=1440),
            vpc_id=_optional_text(raw, "vpcId"),
            auth_mode=_choice(raw, "authMode", AUTH_MODES),  # type: ignore[arg-type]
            api_access_logs=_bool(raw, "apiAccessLogs"),
            log_retention_days=_retention(raw, "logRetentionDays"),
            removal_policy=_choice(raw, "removalPolicy", REMOVAL_POLICIES),
            worker_image=_optional_text(raw, "workerImage"),
            job_vcpus=_int(raw, "jobVcpus", low=1),
            job_memory_mib=_int(raw, "jobMemoryMiB", low=512),
            job_gpus=_int(raw, "jobGpus", low=0),
            job_timeout_minutes=_int(raw, "jobTimeoutMinutes", low=1),
            job_attempts=_int(raw, "jobAttempts", low=1, high=10),
            lane_concurrency=_int(raw, "laneConcurrency", low=0, high=900),
            reaper_interval_minutes=_int(raw, "reaperIntervalMinutes", low=1),
            api_rate_limit=_int(raw, "apiRateLimit", low=1),
            api_burst_limit=_int(raw, "apiBurstLimit", low=1),
            checkpoint_expiry_days=_int(raw, "checkpointExpiryDays", low=1),
            alarm_email=_optional_text(raw, "alarmEmail"),
            tenants=_tenants(raw, "tenants"),
        )


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None or value == "" else value


def _int(raw: dict[str, Any], key: str, *, low: int, high: int | None = None) -> int:
    value = raw[key]
    try:
        number = int(value)
        if isinstance(value, bool) or number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise SettingsError(f"context {key}: expected a whole number, got {value!r}") from None
    if number < low or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SettingsError(f"context {key}: must be {bounds}, got {number}")
    return number


def _retention(raw: dict[str, Any], key: str) -> int:
    days = _int(raw, key, low=1)
    if days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
        raise SettingsError(f"context {key}: CloudWatch keeps logs for one of {allowed} days")
    return days


def _bool(raw: dict[str, Any], key: str) -> bool:
    value = raw[key]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise SettingsError(f"context {key}: expected true or false, got {value!r}")


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = str(raw[key])
    if value not in choices:
        raise SettingsError(f"context {key}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _optional_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw[key]
    return None if value is None else str(value)


def _tenants(raw: dict[str, Any], key: str) -> str | None:
    """The mapping as JSON text (given as text with ``-c`` or as an object in cdk.json)."""
    value = raw[key]
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        TenantMap.parse(text, setting=f"context {key}")
    except TenancyError as err:
        raise SettingsError(str(err)) from None
    return text


def _names(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw[key]
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    names = tuple(str(v).strip() for v in value if str(v).strip())
    if not names:
        raise SettingsError(f"context {key}: give at least one instance type")
    return names


def context_table() -> str:
    """The Markdown table of docs/deploy.md (a test keeps the page in step with it)."""
    rows = ["| key | default | what it sets |", "| --- | --- | --- |"]
    for key in CONTEXT:
        default = key.default
        if isinstance(default, list):
            default = ",".join(default)
        shown = (
            "(unset)"
            if default is None
            else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        )
        rows.append(f"| `{key.name}` | {shown} | {key.description} |")
    return "\n".join(rows)
