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
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from scanfleet import names
from scanfleet.cloud import MAX_LANES_PER_EXECUTION, Key, LaneAction

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
    ) -> None:
        super().__init__(scope, construct_id)
        self._name_the_state_machine()
        self.job_queue = job_queue
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
