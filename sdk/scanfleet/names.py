"""Names that cross the boundary between infra, the API, the worker and the runtime.

Environment variables, exit codes, HTTP headers, the API's error codes, Step Functions
payload keys and metric names live here and nowhere else, so the CDK stack, the Lambda
handlers, the agent loop and the training script agree. Standard library only: the
trial-side SDK imports it without pydantic. ``scanfleet.wire`` re-exports every one of
them beside the API's models: import from either, never define one again.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

# --- environment of every process scanfleet starts or configures ---------------------
ENV_API_URL = "SCANFLEET_API_URL"
ENV_TOKEN = "SCANFLEET_TOKEN"
ENV_AUTH = "SCANFLEET_AUTH"  # SDK: "token" (default) or "iam" (SigV4 with botocore)
ENV_SCAN_ID = "SCANFLEET_SCAN_ID"
ENV_TRIAL_ID = "SCANFLEET_TRIAL_ID"
ENV_PARAMS = "SCANFLEET_PARAMS"
ENV_ATTEMPT = "SCANFLEET_ATTEMPT"
ENV_RESUME_STEP = "SCANFLEET_RESUME_STEP"
ENV_STOP_STEP = "SCANFLEET_STOP_STEP"  # pbt: the step this trial trains to (its lineage's)
ENV_CHECKPOINT_DIR = "SCANFLEET_CHECKPOINT_DIR"
ENV_CHECKPOINT_NOW_FILE = "SCANFLEET_CHECKPOINT_NOW_FILE"
ENV_WORKER_ID = "SCANFLEET_WORKER_ID"
ENV_STATE_DIR = "SCANFLEET_STATE_DIR"
ENV_METADATA_URL = "SCANFLEET_METADATA_URL"
ENV_RESULT_FILE = "SCANFLEET_RESULT_FILE"  # where current_trial() leaves its last reports
ENV_BASE_MODEL = "SCANFLEET_BASE_MODEL"  # local path of the scan's base_model (run inputs)
ENV_DATASET = "SCANFLEET_DATASET"  # local path of the scan's dataset (run inputs)
ENV_INPUTS_CACHE = "SCANFLEET_INPUTS_CACHE"  # worker: where run inputs are kept between trials
# where checkpoints are kept: s3://bucket/prefix, or a local folder (default: the state dir)
ENV_CHECKPOINT_URL = "SCANFLEET_CHECKPOINT_URL"
ENV_METADATA_INTERVAL = "SCANFLEET_METADATA_INTERVAL"  # seconds between spot notice polls
ENV_CHECKPOINT_DEADLINE = "SCANFLEET_CHECKPOINT_DEADLINE"  # SIGTERM: seconds to checkpoint
ENV_POLL_INTERVAL = "SCANFLEET_POLL_INTERVAL"  # agent: seconds between empty claims
ENV_LOGS_DIR = "SCANFLEET_LOGS_DIR"  # Batch entrypoint: where the script's log files go
METADATA_OFF = "off"  # SCANFLEET_METADATA_URL=off: never poll the instance metadata

# --- server side (Lambda / local server) ----------------------------------------------
ENV_TABLE_NAME = "SCANFLEET_TABLE_NAME"
ENV_BUCKET_NAME = "SCANFLEET_BUCKET_NAME"
ENV_STATE_MACHINE_ARN = "SCANFLEET_STATE_MACHINE_ARN"
ENV_JOB_QUEUE = "SCANFLEET_JOB_QUEUE"  # the Batch job queue of remote trials (cancel terminates)
# the stack's Batch job definition; a scan with its own `image` runs a copy of it
ENV_JOB_DEFINITION = "SCANFLEET_JOB_DEFINITION"
ENV_DB_PATH = "SCANFLEET_DB_PATH"
ENV_TOKEN_SECRET = "SCANFLEET_TOKEN_SECRET"  # id of the API token secret (AWS)

# --- HTTP -------------------------------------------------------------------------------
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_AUTHORIZATION = "Authorization"


# --- error codes of the API's answers (scanfleet.wire re-exports them) ------------------


class ErrorCode(StrEnum):
    """The stable ``error.code`` of an answer of the API.

    Each code is the ``code`` of exactly one class of ``scanfleet.errors``, which also gives
    its HTTP status; the SDK turns a code back into that class (an unknown code, or an
    answer without our envelope such as API Gateway's own 403 or 429, falls back to the
    class of its status). A code is never renamed: programs match on it.
    """

    # 400
    INVALID_REQUEST = "invalid_request"  # the body or query (details: [{path, message}])
    INVALID_CONFIG = "invalid_config"  # the scan config (details: [{path, message}])
    INVALID_PARAMS = "invalid_params"
    INVALID_VALUES = "invalid_values"
    INPUTS_NOT_STORED = "inputs_not_stored"  # this API keeps no uploaded files
    # 401, 403
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"  # API Gateway's IAM refusal; never sent by scanfleet itself
    # 404
    NOT_FOUND = "not_found"  # no such route
    SCAN_NOT_FOUND = "scan_not_found"
    TRIAL_NOT_FOUND = "trial_not_found"
    # 405
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 409: the request contradicts the current state; an answer, never retried
    CONFLICT = "conflict"
    SCAN_EXISTS = "scan_exists"
    TRIAL_FINISHED = "trial_finished"
    LEASE_LOST = "lease_lost"
    ALREADY_CLAIMED = "already_claimed"
    SCAN_NOT_EXTENDABLE = "scan_not_extendable"
    NO_BEST_TRIAL = "no_best_trial"
    # 410
    SCAN_FINISHED = "scan_finished"
    # 413, 415, 422, 429
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNPROCESSABLE = "unprocessable"  # never sent by scanfleet (validation answers 400)
    RATE_LIMITED = "rate_limited"  # API Gateway's throttling; never sent by scanfleet itself
    # 5xx: retried by the SDK
    INTERNAL_ERROR = "internal_error"
    STORE_BUSY = "store_busy"  # 503: writers raced for one item; retry later
    RUN_NOT_STARTED = "run_not_started"  # 502: AWS refused to start a scan's run


def error_code_of(text: str) -> ErrorCode | str:
    """The ``ErrorCode`` named ``text``; the text itself when it is no code of ours (a newer
    server, or a proxy's ``http_<status>``)."""
    try:
        return ErrorCode(text)
    except ValueError:
        return text


class ExitCode(IntEnum):
    """Exit codes of the worker entrypoint; the Batch retry strategy matches on them.

    Every code that asks for a retry is in 75-79, so one ``evaluateOnExit`` rule
    (``onExitCode: "7*"`` → RETRY) covers them all; the others end the job.
    """

    OK = 0  # the trial (or the scan, for the agent loop) is finished
    SCRIPT_FAILED = 1  # the trial is FAILED: its error (or preemption) budget is spent
    USAGE = 2
    NOTHING_TO_DO = 3  # the trial is finished or held by a live worker; the scan is over
    LEASE_LOST = 4  # the lease ran out mid-run: another attempt owns the trial now
    INPUT_INVALID = 5  # a run input is missing or invalid: the trial is FAILED, no retry
    INTERRUPTED = 75  # EX_TEMPFAIL: preempted or asked to stop; retry and resume
    REQUEUED = 76  # the script failed and the trial is re-queued within its error budget
    API_UNAVAILABLE = 77  # the API could not be reached: retry later
    INPUTS_UNAVAILABLE = 78  # a run input could not be fetched right now: retry later

    @property
    def retry(self) -> bool:
        """Whether the Batch retry strategy should run the job again."""
        return 75 <= self.value <= 79


BATCH_RETRY_EXIT_CODES = "7*"  # the onExitCode pattern of the Batch retry rule

# --- Step Functions payloads (ids and counters, never trial lists) ----------------------


class PayloadKey(StrEnum):
    """Keys of the state machine's payloads that its definition (``infra/orchestration.py``)
    refers to; ``scanfleet.cloud`` builds the payloads (and calls this ``Key``)."""

    LANES = "lanes"
    ACTION = "action"
    TRIAL_ID = "trial_id"
    SCAN_ID = "scan_id"
    WORKER_ID = "worker_id"
    JOB = "job"  # the Batch job description (.sync result), added by the Run step
    JOB_DEFINITION = "job_definition"
    JOB_ERROR = "job_error"  # {Error, Cause} when the Run step failed
    LANE = "lane"
    STATE_MACHINE = "state_machine"
    EXECUTION = "execution"
    LANE_ERROR = "lane_error"  # {Error, Cause} when a lane's Claim or Finish failed for good


class LaneAction(StrEnum):
    """What a lane does after a claim."""

    RUN = "run"  # a trial is claimed for this lane: submit its Batch job
    RUN_ON_DEMAND = "run_on_demand"  # the same, on the On-Demand fallback queue
    WAIT = "wait"  # nothing free right now: wait, then claim again
    DONE = "done"  # the scan is finished: the lane ends
    HANDED_OFF = "handed_off"  # this execution's history budget is spent: a new one goes on


# --- metrics (Powertools EMF from the Lambdas; the CloudWatch dashboard reads them) ----
METRICS_NAMESPACE = "scanfleet"
METRICS_SERVICE = "scanfleet"  # POWERTOOLS_SERVICE_NAME of every Lambda: one dimension


class Metric(StrEnum):
    """Custom metric names: the handlers emit them, infra/monitoring.py graphs them."""

    TRIALS_STARTED = "TrialsStarted"
    TRIALS_COMPLETED = "TrialsCompleted"
    TRIALS_FAILED = "TrialsFailed"
    TRIALS_PRUNED = "TrialsPruned"
    SPOT_INTERRUPTIONS = "SpotInterruptions"
    CLAIM_LATENCY = "ClaimLatency"  # milliseconds
    STALE_TRIALS = "StaleTrialsRequeued"


def scans_metric(status: str) -> str:
    """The gauge of how many scans are in ``status`` (a ScanStatus value): ScansRunning, …"""
    return f"Scans{status.title()}"
