"""Names that cross the boundary between infra, the API, the worker and the runtime.

Environment variables, exit codes and HTTP headers live here and nowhere else, so the
CDK stack, the Lambda handlers, the agent loop and the training script agree.
"""

from __future__ import annotations

from enum import IntEnum

# --- environment of every process scanfleet starts or configures ---------------------
ENV_API_URL = "SCANFLEET_API_URL"
ENV_TOKEN = "SCANFLEET_TOKEN"
ENV_AUTH = "SCANFLEET_AUTH"  # SDK: "token" (default) or "iam" (SigV4 with botocore)
ENV_SCAN_ID = "SCANFLEET_SCAN_ID"
ENV_TRIAL_ID = "SCANFLEET_TRIAL_ID"
ENV_PARAMS = "SCANFLEET_PARAMS"
ENV_ATTEMPT = "SCANFLEET_ATTEMPT"
ENV_RESUME_STEP = "SCANFLEET_RESUME_STEP"
ENV_CHECKPOINT_DIR = "SCANFLEET_CHECKPOINT_DIR"
ENV_CHECKPOINT_NOW_FILE = "SCANFLEET_CHECKPOINT_NOW_FILE"
ENV_WORKER_ID = "SCANFLEET_WORKER_ID"
ENV_STATE_DIR = "SCANFLEET_STATE_DIR"
ENV_METADATA_URL = "SCANFLEET_METADATA_URL"
ENV_RESULT_FILE = "SCANFLEET_RESULT_FILE"  # where current_trial() leaves its last reports

# --- server side (Lambda / local server) ----------------------------------------------
ENV_TABLE_NAME = "SCANFLEET_TABLE_NAME"
ENV_BUCKET_NAME = "SCANFLEET_BUCKET_NAME"
ENV_STATE_MACHINE_ARN = "SCANFLEET_STATE_MACHINE_ARN"
ENV_DB_PATH = "SCANFLEET_DB_PATH"

# --- HTTP -------------------------------------------------------------------------------
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_AUTHORIZATION = "Authorization"


class ExitCode(IntEnum):
    """Exit codes of the worker entrypoint; the Batch retry strategy matches on them."""

    OK = 0
    SCRIPT_FAILED = 1
    USAGE = 2
    INTERRUPTED = 75  # EX_TEMPFAIL: preempted or asked to stop; retry and resume
    NOTHING_TO_DO = 3
