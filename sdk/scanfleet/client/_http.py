"""The SDK's transport: ``scanfleet.transport.sending`` (standard library), shared with the
trial-side path so both speak one protocol (routes, headers, idempotency keys, retries)."""

from scanfleet.transport.sending import (
    INITIAL_RETRY_DELAY_S,
    MAX_RETRY_AFTER_S,
    MAX_RETRY_DELAY_S,
    Response,
    RetryPolicy,
    Transport,
    parse_retry_after,
    retry_delay,
    should_retry,
)

# the names this module gave them before the transport moved down
_parse_retry_after = parse_retry_after
_retry_delay = retry_delay
_should_retry = should_retry

__all__ = [
    "INITIAL_RETRY_DELAY_S",
    "MAX_RETRY_AFTER_S",
    "MAX_RETRY_DELAY_S",
    "Response",
    "RetryPolicy",
    "Transport",
]
