"""The exit codes the Batch retry strategy keys on, and how the agent stops (notices,
signals). How a run's end maps to them: test_outcome.py."""

from __future__ import annotations

import threading

import pytest
from scanfleet.client import Client
from scanfleet.names import BATCH_RETRY_EXIT_CODES, ExitCode
from scanfleet.runtime.agent import Agent
from scanfleet.runtime.spot import SpotNotice, notice_deadline


def test_exactly_the_codes_that_should_retry_match_the_batch_rule() -> None:
    pattern = BATCH_RETRY_EXIT_CODES.rstrip("*")
    retried = {c for c in ExitCode if str(c.value).startswith(pattern)}
    assert retried == {c for c in ExitCode if c.retry}
    assert retried == {
        ExitCode.INTERRUPTED,
        ExitCode.REQUEUED,
        ExitCode.API_UNAVAILABLE,
        ExitCode.INPUTS_UNAVAILABLE,
    }
    assert not ExitCode.INPUT_INVALID.retry


@pytest.mark.parametrize("left, deadline", [(None, 90.0), (120.0, 90.0), (50.0, 30.0), (5.0, 0.0)])
def test_a_notice_leaves_a_margin_inside_its_two_minutes(
    left: float | None, deadline: float
) -> None:
    now = 1_700_000_000.0
    notice = SpotNotice(action="terminate", at=None if left is None else now + left)
    assert notice_deadline(notice, now, 90.0) == deadline


def test_a_notice_stops_the_agent_before_its_next_claim() -> None:
    agent = Agent(Client(url="http://127.0.0.1:1"), "sc1")
    agent.on_spot_notice(SpotNotice(action="terminate", at=None))
    assert agent.run() == ExitCode.INTERRUPTED  # no claim: the API is not even reachable


def test_a_signal_while_a_script_is_being_started_does_not_deadlock_the_agent() -> None:
    """The signal handler runs on the thread that holds the start lock (mid-Popen)."""
    agent = Agent(Client(url="http://127.0.0.1:1"), "sc1")
    done = threading.Event()

    def starting_a_script_when_the_signal_comes() -> None:
        with agent._lock:
            agent.interrupt("SIGTERM", 1.0)
        done.set()

    threading.Thread(target=starting_a_script_when_the_signal_comes, daemon=True).start()
    assert done.wait(5), "interrupt() waited for a lock its own thread holds"
    assert agent._stop.is_set()
