"""The history-event budget: no execution can reach Step Functions' 25,000 events."""

from __future__ import annotations

from scanfleet.cloud._history import (
    EVENTS_PER_LANE_END,
    EVENTS_PER_TRIAL,
    EVENTS_PER_WAIT,
    EXECUTION_OVERHEAD,
    HISTORY_LIMIT,
    MAX_LANES_PER_EXECUTION,
    lane_budget,
    must_hand_off,
    trials_before_hand_off,
)


def test_the_events_of_one_trial_add_up() -> None:
    assert EVENTS_PER_TRIAL == 5 + 2 + 6 + 5
    assert EVENTS_PER_WAIT == 5 + 2 + 2


def test_the_worst_execution_stays_under_the_limit_for_every_lane_count() -> None:
    for lanes in range(1, MAX_LANES_PER_EXECUTION + 1):
        budget = lane_budget(lanes)
        # a lane claims until must_hand_off says no; its worst case is one step before that
        used = 0
        while not must_hand_off(used, budget):
            used += max(EVENTS_PER_TRIAL, EVENTS_PER_WAIT)
        worst = EXECUTION_OVERHEAD + lanes * (used + EVENTS_PER_LANE_END)
        assert worst <= HISTORY_LIMIT, lanes


def test_a_single_lane_runs_over_a_thousand_trials_per_execution() -> None:
    assert trials_before_hand_off(1) == (24_000 - 11) // 18 == 1332
    assert trials_before_hand_off(40) == (600 - 11) // 18 == 32
