"""The history-event budget of an execution.

A Standard execution fails at 25,000 history events, and the iterations of an inline Map
write into their parent's history. A lane therefore counts the events it writes and, when
its share of the budget is spent, hands its work to a fresh execution of the state machine
(continue-as-new) between two trials. A hand-off carries only ids: the trials are in
DynamoDB, so nothing is lost or repeated.

Events each step writes (AWS history event types; checked against the moto run by
``tests/cloud``):

- a Lambda task (``lambda:invoke``): TaskStateEntered, TaskScheduled, TaskStarted,
  TaskSucceeded, TaskStateExited = 5
- a Choice: ChoiceStateEntered, ChoiceStateExited = 2
- a Wait: WaitStateEntered, WaitStateExited = 2
- the Batch task (``batch:submitJob.sync``): TaskStateEntered, TaskScheduled, TaskStarted,
  TaskSubmitted, TaskSucceeded (or TaskFailed, caught), TaskStateExited = 6
"""

from __future__ import annotations

HISTORY_LIMIT = 25_000
LAMBDA_TASK_EVENTS = 5
CHOICE_EVENTS = 2
WAIT_EVENTS = 2
BATCH_SYNC_TASK_EVENTS = 6

# claim → choice → run → finish
EVENTS_PER_TRIAL = LAMBDA_TASK_EVENTS + CHOICE_EVENTS + BATCH_SYNC_TASK_EVENTS + LAMBDA_TASK_EVENTS
# claim → choice → wait
EVENTS_PER_WAIT = LAMBDA_TASK_EVENTS + CHOICE_EVENTS + WAIT_EVENTS
# the last claim → choice → end of the lane, and the Map iteration's own start and end
EVENTS_PER_LANE_END = LAMBDA_TASK_EVENTS + CHOICE_EVENTS + 2 + 2
# execution start and end, plan, map start and end, finalise — with a wide margin
EXECUTION_OVERHEAD = 1_000

# Inline Map runs at most 40 iterations at once; more lanes go to sibling executions.
MAX_LANES_PER_EXECUTION = 40


def lane_budget(lanes: int) -> int:
    """History events each of ``lanes`` lanes may write in one execution."""
    if lanes < 1:
        return 0
    return (HISTORY_LIMIT - EXECUTION_OVERHEAD) // lanes


def trials_before_hand_off(lanes: int) -> int:
    """How many trials a lane runs in one execution (no waits) before it hands off."""
    return max(0, (lane_budget(lanes) - EVENTS_PER_LANE_END) // EVENTS_PER_TRIAL)


def must_hand_off(events_used: int, budget: int) -> bool:
    """True when one more trial could take the lane past its budget."""
    return events_used + EVENTS_PER_TRIAL + EVENTS_PER_LANE_END > budget
