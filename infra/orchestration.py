"""The scan state machine: ``max_worker`` lanes, each looping claim → run → finish.

    Plan ─► Lanes (Map, one iteration per lane) ─► Finalise
              └─ Claim ─► Next? ─run──► Run (batch:submitJob.sync) ─► Finish ─┐
                   ▲         ├─wait─► Idle (Wait) ─┐         (caught) ──────► │
                   └─────────┴─────────────────────┴──────────────────────────┘
                             └─done / handed_off─► LaneEnd

A slow trial holds up only its own lane. Payloads carry ids and counters only
(``scanfleet.cloud.Lane``). A lane counts the history events it writes and hands its work
to a fresh execution before the execution could reach 25,000 events
(``scanfleet.cloud._history``); more lanes than one inline Map runs at once (40) go to
sibling executions. The state machine has a fixed name so the functions that start
executions can be granted its ARN without a reference cycle.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from scanfleet import names
from scanfleet.cloud import MAX_LANES_PER_EXECUTION, Key, LaneAction

from infra.lambdas import LambdaSettings

_LANE_FIELDS = ("scan_id", "owner", "run", "generation", "budget", "job_definition")


def _path(key: str) -> str:
    return f"$.{key}"


class Orchestration(Construct):
    """The state machine of remote scans, its Lambda tasks and the revive schedule.

    ``table`` and ``bucket`` are what the functions work on; the stack grants them (and
    every other grant); the state machine role gets what its Lambda and Batch tasks need
    from the task constructs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        job_queue: batch.IJobQueue,
        job_definition: batch.IJobDefinition,
        lambdas: LambdaSettings,
        log_retention: logs.RetentionDays,
        poll_seconds: int = 30,
        removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, construct_id)
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
        starts = {names.ENV_STATE_MACHINE_ARN: self.state_machine_arn_text}

        def function(name: str, handler: str, description: str) -> lambda_.Function:
            return lambdas.function(
                self,
                name,
                handler=f"orchestration.{handler}",
                description=description,
                timeout=Duration.seconds(60),
                memory_size=1024,
                environment=starts,
            )

        self.plan_function = function("Plan", "plan", "scan state machine: plan the lanes")
        # a scan with its own image runs a copy of this definition (registered by Plan)
        self.plan_function.add_environment(
            names.ENV_JOB_DEFINITION, job_definition.job_definition_arn
        )
        self.claim_function = function("Claim", "claim", "scan state machine: claim a trial")
        self.finish_function = function("Finish", "finish", "scan state machine: settle a trial")
        self.finalise_function = function("Finalise", "finalise", "scan state machine: finalise")
        self.revive_function = function(
            "Revive", "revive", "restart running scans whose execution failed or was stopped"
        )
        self.functions = [
            self.plan_function,
            self.claim_function,
            self.finish_function,
            self.finalise_function,
            self.revive_function,
        ]

        definition = self._definition(job_queue, poll_seconds)
        self.log_group = logs.LogGroup(
            self, "StateMachineLogs", retention=log_retention, removal_policy=removal_policy
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        self.revive_schedule = events.Rule(
            self,
            "ReviveSchedule",
            description="restart running scans whose state machine execution ended",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[targets.LambdaFunction(self.revive_function)],
        )

    def _lambda_task(
        self, name: str, fn: lambda_.IFunction, **options: object
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=fn,
            payload_response_only=True,
            **options,  # type: ignore[arg-type]
        )
        task.add_retry(
            # CDK adds the retry on Lambda's service errors; ours: a store too busy to answer
            errors=["StoreBusyError", "Lambda.TooManyRequestsException"],
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
        claim = self._lambda_task("ClaimTrial", self.claim_function)
        finish = self._lambda_task("FinishTrial", self.finish_function)
        finalise = self._lambda_task("FinaliseScan", self.finalise_function)

        run = tasks.BatchSubmitJob(
            self,
            "RunTrial",
            job_name=sfn.JsonPath.string_at(_path(Key.TRIAL_ID)),
            job_queue_arn=job_queue.job_queue_arn,
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
        # a failed job (its retries spent) is the finish step's to settle, not the lane's end
        run.add_catch(finish, errors=["States.ALL"], result_path=_path(Key.JOB_ERROR))
        run.next(finish)
        idle = sfn.Wait(self, "Idle", time=sfn.WaitTime.duration(Duration.seconds(poll_seconds)))
        idle.next(claim)
        finish.next(claim)
        lane_end = sfn.Succeed(self, "LaneEnd")
        action = sfn.JsonPath.string_at(_path(Key.ACTION))
        claim.next(
            sfn.Choice(self, "NextStep")
            .when(sfn.Condition.string_equals(action, LaneAction.RUN.value), run)
            .when(sfn.Condition.string_equals(action, LaneAction.WAIT.value), idle)
            .otherwise(lane_end)
        )

        selector: dict[str, object] = {f: sfn.JsonPath.string_at(_path(f)) for f in _LANE_FIELDS}
        selector[Key.LANE.value] = sfn.JsonPath.string_at("$$.Map.Item.Value")
        selector[Key.STATE_MACHINE.value] = sfn.JsonPath.string_at("$$.StateMachine.Id")
        selector[Key.EXECUTION.value] = sfn.JsonPath.string_at("$$.Execution.Name")
        lanes = sfn.Map(
            self,
            "Lanes",
            items_path=_path(Key.LANES),
            max_concurrency=MAX_LANES_PER_EXECUTION,
            item_selector=selector,
            result_path=sfn.JsonPath.DISCARD,
        )
        lanes.item_processor(claim)
        return plan.next(lanes).next(finalise)
