"""The prices and the model ``bench/cloud_cost.py`` extrapolates with (us-east-1 list
prices, USD; free tiers left out).

A measured run in moto gives, per trial: state transitions, Lambda runs, API requests
by route, DynamoDB units (``bench/dynamodb_units.py``). Those are constant in the number
of trials (a claim catches the live study up with the trials changed since the last
one; a report reads the trial's own curve and the kept pruning inputs). What a real
30-minute trial adds is modelled:

- **heartbeats**: 1,800 s / ``heartbeat_interval(lease_seconds)`` per trial, each an API
  request (API Gateway, an API Lambda run of ``BEAT_MS`` at 512 MB) and the DynamoDB units
  of one heartbeat measured in the same moto run;
- **X-Ray**: every API request and execution is a trace candidate; a sampling rule keeps
  ``reservoir`` per second plus ``rate`` of the rest. At ``LANES`` trials at once, the
  heartbeats arrive at LANES / interval per second;
- **public IPv4**: one address per GPU instance, for the trial's 30 minutes;
- **CloudWatch Logs**: ``LOG_BYTES_PER_INVOCATION`` per Lambda run (platform lines and our
  one-line logs), ``LOG_BYTES_PER_EVENT`` per state-machine history event (level ALL,
  no execution data), ``LOG_BYTES_PER_ACCESS_LOG`` per API request when access logs are on;
- **fixed monthly**: custom metrics, alarms and the dashboard, counted in the template,
  spread over the trials run in that month.
"""

from __future__ import annotations

import math

STEP_FUNCTIONS_PER_TRANSITION = 0.025 / 1_000  # Standard workflows
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND = 0.0000166667  # x86
API_GATEWAY_REST_PER_REQUEST = 3.50 / 1_000_000
DYNAMODB_PER_READ_UNIT = 0.125 / 1_000_000  # on-demand
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1_000_000
XRAY_PER_TRACE = 5.00 / 1_000_000  # recorded
PUBLIC_IPV4_PER_HOUR = 0.005
LOGS_PER_GB = 0.50  # ingestion
METRIC_PER_MONTH = 0.30
ALARM_PER_MONTH = 0.10
DASHBOARD_PER_MONTH = 3.00

TRIAL_S = 30 * 60
LANES = 50  # trials at once (max_worker) in the model
BEAT_MS = 15  # an API Lambda heartbeat, billed per ms at 512 MB
API_LAMBDA_GB = 0.5
LOG_BYTES_PER_INVOCATION = 350
LOG_BYTES_PER_EVENT = 450
LOG_BYTES_PER_ACCESS_LOG = 500
SCALES = (100, 1_000, 10_000)
# what the GPU costs, for comparison: a g5.xlarge at an assumed Spot price of $0.40/h
GPU_TRIAL_COST = 0.40 * TRIAL_S / 3600

DEFAULT_RULE = (1.0, 0.05)  # X-Ray's default sampling rule: 1 a second, then 5 %


def sampled(rate_per_s: float, rule: tuple[float, float] = DEFAULT_RULE) -> float:
    """The fraction of requests arriving at ``rate_per_s`` that ``rule`` (reservoir a
    second, fixed rate) traces."""
    reservoir, fixed = rule
    if rate_per_s <= 0:
        return 0.0
    kept = min(rate_per_s, reservoir) + fixed * max(rate_per_s - reservoir, 0.0)
    return kept / rate_per_s


def per_thousand(per_trial: float, unit_price: float) -> float:
    return per_trial * unit_price * 1_000


def read_units(size_bytes: int, consistent: bool = True) -> float:
    units = max(1, math.ceil(size_bytes / 4096))
    return float(units) if consistent else units / 2
