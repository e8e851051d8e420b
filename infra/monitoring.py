"""The operator's view: one CloudWatch dashboard and the alarms, sent to an SNS topic.

Scans by status are the reaper's gauges (every owner, every execution mode); trial counts,
Spot interruptions, claim latency and stale trials are the custom metrics the Lambdas emit
with Powertools (EMF), named in ``scanfleet.names``; executions and their failures are the
state machine's own metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from scanfleet import names
from scanfleet.names import Metric
from scanfleet.records import ScanStatus

from infra.tracing import heartbeat_sampling

PERIOD = Duration.minutes(5)
_MAX_METRICS_PER_EXPRESSION = 10  # CloudWatch's limit for a metric-math alarm


def custom_metric(name: str, statistic: str = "Sum", label: str | None = None) -> cw.Metric:
    return cw.Metric(
        namespace=names.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": names.METRICS_SERVICE},
        statistic=statistic,
        period=PERIOD,
        label=label,
    )


class Monitoring(Construct):
    """``.dashboard``, ``.alarm_topic``, ``.alarms`` (by name)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
        alarm_email: str | None,
        dead_letter_queues: Sequence[sqs.IQueue] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        if len(functions) > _MAX_METRICS_PER_EXPRESSION:
            raise ValueError(f"at most {_MAX_METRICS_PER_EXPRESSION} functions per error alarm")
        self.alarm_topic = sns.Topic(
            self, "Alarms", display_name="scanfleet alarms", enforce_ssl=True
        )
        # enforce_ssl writes a topic policy (the TLS Deny) that replaces SNS's default one:
        # CloudWatch must then be allowed to publish, from this account's alarms only
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        if alarm_email:
            self.alarm_topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms = self._alarms(functions, state_machine)
        if dead_letter_queues:
            self.alarms["DeadLetters"] = self._dead_letter_alarm(dead_letter_queues)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        self.dashboard = self._dashboard(functions, state_machine)
        self.heartbeat_sampling = heartbeat_sampling(self)  # heartbeats: 1 % traced

    def _dashboard(
        self, functions: Mapping[str, lambda_.IFunction], state_machine: sfn.IStateMachine
    ) -> cw.Dashboard:
        """Scans, executions, trials, Spot interruptions, claim latency, errors, alarms."""
        dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        dashboard.add_widgets(
            *self._scan_widgets(state_machine),
            cw.GraphWidget(
                title="Trials",
                left=[
                    custom_metric(Metric.TRIALS_STARTED.value),
                    custom_metric(Metric.TRIALS_COMPLETED.value),
                    custom_metric(Metric.TRIALS_FAILED.value),
                    custom_metric(Metric.TRIALS_PRUNED.value),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Spot interruptions and stale trials",
                left=[
                    custom_metric(Metric.SPOT_INTERRUPTIONS.value),
                    custom_metric(Metric.STALE_TRIALS.value),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Claim latency (ms)",
                left=[
                    custom_metric(Metric.CLAIM_LATENCY.value, "p50"),
                    custom_metric(Metric.CLAIM_LATENCY.value, "p90"),
                    custom_metric(Metric.CLAIM_LATENCY.value, "Maximum"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Lambda errors",
                left=[
                    fn.metric_errors(period=PERIOD, label=name) for name, fn in functions.items()
                ],
                width=8,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=8),
        )
        return dashboard

    def _alarms(
        self, functions: Mapping[str, lambda_.IFunction], state_machine: sfn.IStateMachine
    ) -> dict[str, cw.Alarm]:
        """Any Lambda error, any stale trial, any failed execution, by alarm name."""
        lambda_errors = cw.MathExpression(
            expression=" + ".join(f"FILL(e{i}, 0)" for i in range(len(functions))) or "0",
            using_metrics={
                f"e{i}": fn.metric_errors(period=PERIOD) for i, fn in enumerate(functions.values())
            },
            label="Lambda errors (all functions)",
            period=PERIOD,
        )
        watched: tuple[tuple[str, cw.Metric | cw.MathExpression, str], ...] = (
            ("LambdaErrors", lambda_errors, "a scanfleet Lambda function raised"),
            (
                "StaleTrials",
                custom_metric(Metric.STALE_TRIALS.value),
                "trials lost their worker (lease expired) and were re-queued",
            ),
            (
                "FailedExecutions",
                state_machine.metric_failed(period=PERIOD, statistic="Sum"),
                "a scan's state machine execution failed",
            ),
        )
        return {
            name: metric.create_alarm(
                self,
                name,
                alarm_description=description,
                threshold=1,  # any occurrence in a 5-minute period
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            for name, metric, description in watched
        }

    def _dead_letter_alarm(self, queues: Sequence[sqs.IQueue]) -> cw.Alarm:
        """Any event a scheduled function (reaper, revive) failed on for good."""
        waiting = cw.MathExpression(
            expression=" + ".join(f"FILL(q{i}, 0)" for i in range(len(queues))),
            using_metrics={
                f"q{i}": queue.metric_approximate_number_of_messages_visible(
                    period=PERIOD, statistic="Maximum"
                )
                for i, queue in enumerate(queues)
            },
            label="events in the dead-letter queues",
            period=PERIOD,
        )
        return waiting.create_alarm(
            self,
            "DeadLetters",
            alarm_description="a scheduled scanfleet function (reaper, revive) failed on an "
            "event after its retries: the event is in its dead-letter queue",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

    @staticmethod
    def _scan_widgets(state_machine: sfn.IStateMachine) -> list[cw.IWidget]:
        return [
            cw.GraphWidget(
                title="Scans by status",
                left=[
                    custom_metric(names.scans_metric(status), "Maximum", status.lower())
                    for status in ScanStatus
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="State machine executions",
                left=[
                    state_machine.metric_started(period=PERIOD, label="started"),
                    state_machine.metric_succeeded(period=PERIOD, label="succeeded"),
                    state_machine.metric_aborted(period=PERIOD, label="stopped (cancel)"),
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="State machine failures",
                left=[
                    state_machine.metric_failed(period=PERIOD, label="failed"),
                    state_machine.metric_timed_out(period=PERIOD, label="timed out"),
                ],
                width=8,
            ),
        ]
