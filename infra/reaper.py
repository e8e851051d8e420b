"""The stale-lease reaper: a function on an EventBridge schedule that re-queues trials
whose worker stopped heartbeating (``lambdas/reaper.py``) and publishes the scans-by-status
gauges the dashboard draws."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.lambdas import LambdaSettings


class Reaper(Construct):
    """``.function`` and its ``.schedule``, every ``interval_minutes``; it works on
    ``table`` only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lambdas: LambdaSettings,
        table: dynamodb.ITable,
        interval_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = lambdas.function(
            self,
            "Function",
            module="reaper",
            description="re-queues trials whose worker stopped heartbeating",
            timeout=Duration.minutes(2),
            scheduled=True,
        )
        table.grant_read_write_data(self.function)
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="run the scanfleet stale-lease reaper",
            schedule=events.Schedule.rate(Duration.minutes(interval_minutes)),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
