"""The scan state machine: ``max_worker`` lanes, each looping claim → run → finish.

    Plan ─► Lanes (Map, one iteration per lane) ─► Finalise
              └─ Claim ─► Next? ─run──────► Run (Spot queue)      ─► Finish ─┐
                   ▲         ├─on demand─► RunOnDemand (fallback) ─► Finish ─┤
                   │         ├─wait─► Idle (Wait) ─┐   (a failed job goes to Finish too)
                   └─────────┴─────────────────────┴─────────────────────────┘
                             └─done / handed_off─► LaneEnd
              Claim, Finish ─(failed for good)─► RecordLaneError ─► LaneFailed

A slow trial holds up only its own lane. Payloads carry ids and counters only
(``scanfleet.cloud.Lane``). Every Lambda task retries throttling and transient errors
(Lambda's, and ``StoreBusyError``: a DynamoDB write that lost to throttling or to other
writers); the Batch tasks retry a throttled SubmitJob. A lane task that still fails is
caught: the error is recorded on the lane's trial (re-queued against its error budget) or
on the scan, and that lane ends — its Map iteration succeeds, the other lanes go on.

A lane counts the history events it writes and hands its work to a fresh execution before
the execution could reach 25,000 events (``scanfleet.cloud._history``); more lanes than one
inline Map runs at once (40) go to sibling executions. The state machine has a fixed name
so the functions that start executions can be granted its ARN without a reference cycle.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from scanfleet import names
from scanfleet.cloud import (
    ENV_ON_DEMAND_AFTER_PREEMPTIONS,
    ENV_ON_DEMAND_QUEUE,
    ENV_RUNNABLE_TIMEOUT_MINUTES,
    MAX_LANES_PER_EXECUTION,
    Key,
    LaneAction,
)

from infra import nag
from infra.lambdas import LambdaSettings

_LANE_FIELDS = ("scan_id", "owner", "run", "generation", "budget", "job_definition")
# the Lambda tasks: construct id, handler function in lambdas/orchestration.py, description
_TASK_FUNCTIONS = (
    ("Plan", "plan", "scan state machine: plan the lanes"),
    ("Claim", "claim", "scan state machine: claim a trial"),
    ("Finish", "finish", "scan state machine: settle a trial"),
    ("Finalise", "finalise", "scan state machine: finalise"),
    ("Revive", "revive", "restart running scans whose execution failed or was stopped"),
)
# every lane calls these two once per trial: a burst of lanes is capped (throttled calls are
# retried by the state machine) so that it cannot take the account's concurrency from the API
LANE_FUNCTIONS = ("Claim", "Finish")
SCHEDULED_FUNCTIONS = ("Revive",)
# what a lane's Lambda task retries (then its Catch records the error and ends the lane):
# Lambda's throttling and service errors, and a store too busy to answer (a DynamoDB
# transaction cancelled by throttling or conflicts surfaces as StoreBusyError)
LAMBDA_RETRY_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "StoreBusyError",
)
# a throttled SubmitJob (Batch answers 429 TooManyRequestsException; 500 ServerException):
# no job exists yet, so retrying the task submits it once
BATCH_RETRY_ERRORS = ("Batch.TooManyRequestsException", "Batch.ServerException")
# the policy Step Functions documents for batch:submitJob.sync ("IAM policies for AWS
# Batch"): it describes the job while it waits and terminates it when the execution is
# stopped or times out; the events rule is the one that tells it the job's state
BATCH_SYNC_RULE = "StepFunctionsGetEventsForBatchJobsRule"


def _path(key: str) -> str:
    return f"$.{key}"


class Orchestration(Construct):
    """The state machine of remote scans, its Lambda tasks and the revive schedule.

    The task functions work on ``table`` and ``bucket`` and control the scan executions
    and their Batch jobs on ``job_queue``; Plan registers copies of ``job_definition``.
    :meth:`grant_scan_control` gives another function (the API's) the same control.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        job_queue: batch.IJobQueue,
        job_definition: batch.EcsJobDefinition,
        lambdas: LambdaSettings,
        log_retention: logs.RetentionDays,
        poll_seconds: int = 30,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
        lane_concurrency: int = 0,
        fallback_queue: batch.IJobQueue | None = None,
        on_demand_after_preemptions: int = 2,
        runnable_timeout_minutes: int = 30,
    ) -> None:
        super().__init__(scope, construct_id)
        self._name_the_state_machine()
        self.job_queue = job_queue
        self.fallback_queue = fallback_queue
        self.functions_by_name = self._task_functions(lambdas, job_definition, lane_concurrency)
        self.functions = list(self.functions_by_name.values())
        self.plan_function = self.functions_by_name["Plan"]
        self.claim_function = self.functions_by_name["Claim"]
        self.finish_function = self.functions_by_name["Finish"]
        self.finalise_function = self.functions_by_name["Finalise"]
        self.revive_function = self.functions_by_name["Revive"]
        for function in self.functions:
            table.grant_read_write_data(function)
            bucket.grant_read_write(function)  # any trial's checkpoints and logs
            nag.acknowledge(function, nag.BUCKET_USER)
            self.grant_scan_control(function)
        self._grant_job_definition_copies(self.plan_function, job_definition)
        self._tell_lanes(on_demand_after_preemptions, runnable_timeout_minutes)

        self.log_group = logs.LogGroup(
            self, "StateMachineLogs", retention=log_retention, removal_policy=removal_policy
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(
                self._definition(job_queue, poll_seconds)
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        self._grant_batch_sync(self.state_machine)
        nag.acknowledge(self.state_machine, nag.state_machine_role(Stack.of(self), self.functions))
        self.revive_schedule = events.Rule(
            self,
            "ReviveSchedule",
            description="restart running scans whose state machine execution ended",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[targets.LambdaFunction(self.revive_function)],
        )

    def grant_scan_control(self, function: lambda_.Function) -> None:
        """Start, list, describe and stop the scan executions; terminate their Batch jobs
        (``scanfleet.cloud.ScanExecutions``). The machine has a fixed name, so its ARN is
        known without referring to it (no reference cycle through the Lambda tasks)."""
        function.add_environment(names.ENV_STATE_MACHINE_ARN, self.state_machine_arn_text)
        function.add_environment(names.ENV_JOB_QUEUE, self.job_queue.job_queue_arn)
        if self.fallback_queue is not None:  # cancel cleans both queues
            function.add_environment(ENV_ON_DEMAND_QUEUE, self.fallback_queue.job_queue_arn)
        jobs = Stack.of(self).format_arn(service="batch", resource="job", resource_name="*")
        statements = [
            (["states:StartExecution", "states:ListExecutions"], self.state_machine_arn_text),
            (["states:DescribeExecution", "states:StopExecution"], self.execution_arn_text),
            (["batch:ListJobs"], "*"),  # ListJobs has no resource-level permissions
            (["batch:TerminateJob"], jobs),
        ]
        for actions, resource in statements:
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
        nag.acknowledge(function, nag.scan_control(self.state_machine_name))

    def _tell_lanes(self, on_demand_after_preemptions: int, runnable_timeout_minutes: int) -> None:
        """Claim picks the queue (the On-Demand one after the documented preemptions) and
        holds a trial for longer than a job may wait RUNNABLE; Finish explains a job that
        Batch cancelled for waiting too long."""
        for function in (self.claim_function, self.finish_function):
            function.add_environment(ENV_RUNNABLE_TIMEOUT_MINUTES, str(runnable_timeout_minutes))
        if self.fallback_queue is not None:
            self.claim_function.add_environment(
                ENV_ON_DEMAND_AFTER_PREEMPTIONS, str(on_demand_after_preemptions)
            )

    def _grant_batch_sync(self, state_machine: sfn.StateMachine) -> None:
        """What ``batch:submitJob.sync`` needs beyond SubmitJob, as Step Functions documents
        it: DescribeJobs (no resource-level permissions), TerminateJob (a stopped or
        timed-out execution terminates its job), and the managed events rule."""
        stack = Stack.of(self)
        jobs = stack.format_arn(service="batch", resource="job", resource_name="*")
        rule = stack.format_arn(service="events", resource="rule", resource_name=BATCH_SYNC_RULE)
        statements = [
            (["batch:DescribeJobs"], "*"),
            (["batch:TerminateJob"], jobs),
            (["events:PutTargets", "events:PutRule", "events:DescribeRule"], rule),
        ]
        for actions, resource in statements:
            state_machine.add_to_role_policy(
                iam.PolicyStatement(actions=actions, resources=[resource])
            )
        nag.acknowledge(
            state_machine,
            {
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:"
                "<AWS::AccountId>:job/*]": (
                    "batch:submitJob.sync terminates the job of a stopped execution; job ids "
                    "are made at run time (Step Functions docs: IAM policies for AWS Batch)"
                ),
            },
        )

    def _name_the_state_machine(self) -> None:
        stack = Stack.of(self)
        self.state_machine_name = f"{stack.stack_name}-scans"
        self.state_machine_arn_text = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.execution_arn_text = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _task_functions(
        self, lambdas: LambdaSettings, job_definition: batch.IJobDefinition, lane_concurrency: int
    ) -> dict[str, lambda_.Function]:
        """Plan, Claim, Finish, Finalise, Revive (``lambdas/orchestration.py``), by name;
        the lane functions reserve ``lane_concurrency`` each (0: none)."""
        functions = {
            name: lambdas.function(
                self,
                name,
                module="orchestration",
                entry=entry,
                description=description,
                timeout=Duration.seconds(60),
                memory_size=1024,
                environment={names.ENV_STATE_MACHINE_ARN: self.state_machine_arn_text},
                scheduled=name in SCHEDULED_FUNCTIONS,
                reserved_concurrency=(lane_concurrency or None if name in LANE_FUNCTIONS else None),
            )
            for name, entry, description in _TASK_FUNCTIONS
        }
        # a scan with its own image runs a copy of this definition (registered by Plan)
        functions["Plan"].add_environment(
            names.ENV_JOB_DEFINITION, job_definition.job_definition_arn
        )
        return functions

    @staticmethod
    def _grant_job_definition_copies(
        function: lambda_.Function, job_definition: batch.EcsJobDefinition
    ) -> None:
        """A scan with its own ``image`` runs a copy of the job definition that Plan registers
        (``scanfleet.cloud.JobDefinitions``), with the same roles."""
        definitions = Stack.of(function).format_arn(
            service="batch", resource="job-definition", resource_name="*"
        )
        statements = [
            (["batch:DescribeJobDefinitions"], "*"),  # no resource-level permissions
            (["batch:RegisterJobDefinition", "batch:TagResource"], definitions),
        ]
        for actions, resource in statements:
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
        for role in (job_definition.container.job_role, job_definition.container.execution_role):
            if role is not None:
                role.grant_pass_role(function.grant_principal)
        nag.acknowledge(function, nag.JOB_DEFINITION_COPIES)

    def _lambda_task(
        self, name: str, fn: lambda_.IFunction, **options: object
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=fn,
            payload_response_only=True,
            retry_on_service_exceptions=False,  # LAMBDA_RETRY_ERRORS has them, once
            **options,  # type: ignore[arg-type]
        )
        task.add_retry(
            errors=list(LAMBDA_RETRY_ERRORS),
            interval=Duration.seconds(2),
            max_attempts=4,
            backoff_rate=2,
        )
        return task

    def _definition(self, job_queue: batch.IJobQueue, poll_seconds: int) -> sfn.IChainable:
        plan = self._lambda_task(
            "PlanLanes",
            self.plan_function,
            payload=sfn.TaskInput.from_object(
                {
                    "input": sfn.JsonPath.entire_payload,
                    Key.STATE_MACHINE.value: sfn.JsonPath.string_at("$$.StateMachine.Id"),
                }
            ),
        )
        finalise = self._lambda_task("FinaliseScan", self.finalise_function)
        lanes = sfn.Map(
            self,
            "Lanes",
            items_path=_path(Key.LANES),
            max_concurrency=MAX_LANES_PER_EXECUTION,
            item_selector=self._lane_selector(),
            result_path=sfn.JsonPath.DISCARD,
        )
        lanes.item_processor(self._lane(job_queue, poll_seconds))
        return plan.next(lanes).next(finalise)

    @staticmethod
    def _lane_selector() -> dict[str, object]:
        selector: dict[str, object] = {f: sfn.JsonPath.string_at(_path(f)) for f in _LANE_FIELDS}
        selector[Key.LANE.value] = sfn.JsonPath.string_at("$$.Map.Item.Value")
        selector[Key.STATE_MACHINE.value] = sfn.JsonPath.string_at("$$.StateMachine.Id")
        selector[Key.EXECUTION.value] = sfn.JsonPath.string_at("$$.Execution.Name")
        return selector

    def _lane(self, job_queue: batch.IJobQueue, poll_seconds: int) -> sfn.IChainable:
        """One lane: claim → run → finish until the scan is done; a lane task that fails
        for good is recorded and ends the lane, never the Map."""
        claim = self._lambda_task("ClaimTrial", self.claim_function)
        finish = self._lambda_task("FinishTrial", self.finish_function)
        # the finish function records a lane's error when its payload has ``lane_error``
        record_error = self._lambda_task("RecordLaneError", self.finish_function)
        lane_failed = sfn.Succeed(self, "LaneFailed", comment="the error is on the trial/scan")
        record_error.add_catch(lane_failed, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
        record_error.next(lane_failed)
        for task in (claim, finish):
            task.add_catch(record_error, errors=["States.ALL"], result_path=_path(Key.LANE_ERROR))

        run = self._run_task("RunTrial", job_queue, finish)
        choice = sfn.Choice(self, "NextStep")
        action = sfn.JsonPath.string_at(_path(Key.ACTION))
        choice.when(sfn.Condition.string_equals(action, LaneAction.RUN.value), run)
        if self.fallback_queue is not None:
            on_demand = self._run_task("RunTrialOnDemand", self.fallback_queue, finish)
            choice.when(
                sfn.Condition.string_equals(action, LaneAction.RUN_ON_DEMAND.value), on_demand
            )
        idle = sfn.Wait(self, "Idle", time=sfn.WaitTime.duration(Duration.seconds(poll_seconds)))
        idle.next(claim)
        finish.next(claim)
        choice.when(sfn.Condition.string_equals(action, LaneAction.WAIT.value), idle)
        claim.next(choice.otherwise(sfn.Succeed(self, "LaneEnd")))
        return claim

    def _run_task(
        self, name: str, queue: batch.IJobQueue, finish: sfn.IChainable
    ) -> tasks.BatchSubmitJob:
        """The trial's Batch job on ``queue``; however it ends, Finish settles the trial."""
        run = tasks.BatchSubmitJob(
            self,
            name,
            job_name=sfn.JsonPath.string_at(_path(Key.TRIAL_ID)),
            job_queue_arn=queue.job_queue_arn,
            job_definition_arn=sfn.JsonPath.string_at(_path(Key.JOB_DEFINITION)),
            container_overrides=tasks.BatchContainerOverrides(
                environment={
                    names.ENV_SCAN_ID: sfn.JsonPath.string_at(_path(Key.SCAN_ID)),
                    names.ENV_TRIAL_ID: sfn.JsonPath.string_at(_path(Key.TRIAL_ID)),
                    names.ENV_WORKER_ID: sfn.JsonPath.string_at(_path(Key.WORKER_ID)),
                }
            ),
            result_path=_path(Key.JOB),
        )
        run.add_retry(
            errors=list(BATCH_RETRY_ERRORS),
            interval=Duration.seconds(2),
            max_attempts=5,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        # a failed job (its retries spent) is the finish step's to settle, not the lane's end
        run.add_catch(finish, errors=["States.ALL"], result_path=_path(Key.JOB_ERROR))
        run.next(finish)
        return run
