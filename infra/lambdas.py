"""How every Lambda of the stack is built: one code asset, one dependencies layer, one set
of defaults. Each construct makes its own functions with :meth:`LambdaSettings.function`,
naming the handler's module in ``lambdas/`` and its function; the handler setting is derived
from them by ``infra.paths.lambda_handler``, the one place that knows the convention.

The code asset is ``sdk/scanfleet`` and ``lambdas/``, copied at synth time by a local
bundler (no Docker). Third-party packages (pydantic, PyYAML, optuna, Powertools) come from
a layer folder that ``python -m infra.build_layer`` fills with Linux wheels (``scanfleet
deploy`` runs it first). There is no empty stand-in: without a built layer, or with one
built for other requirements than ``pyproject.toml``'s, the synth stops with
:class:`LayerNotBuiltError`, which says how to build it. So plain ``cdk deploy`` and
``scanfleet deploy`` deploy the same layer, or nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
)
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from scanfleet import names

from infra import nag
from infra.build_layer import built_for, requirements
from infra.paths import LAMBDAS_DIR, LAYER_DIR, SDK_PACKAGE_DIR, lambda_handler

RUNTIME = lambda_.Runtime.PYTHON_3_12
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")


@jsii.implements(ILocalBundling)
class _CopySources:
    """Stage ``scanfleet/`` and ``lambdas/`` side by side, as Lambda imports them."""

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        out = Path(output_dir)
        shutil.copytree(SDK_PACKAGE_DIR, out / SDK_PACKAGE_DIR.name, ignore=_IGNORED)
        shutil.copytree(LAMBDAS_DIR, out / LAMBDAS_DIR.name, ignore=_IGNORED)
        return True


def source_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("never-used-local-bundling-only"),
            local=_CopySources(),  # type: ignore[arg-type]  # jsii passes options positionally
        ),
    )


class LayerNotBuiltError(RuntimeError):
    """The dependencies layer folder is missing, incomplete or stale; the message says how
    to build it."""


def check_layer(layer_dir: Path = LAYER_DIR) -> None:
    """Raise :class:`LayerNotBuiltError` unless ``layer_dir`` is a complete layer built for
    the requirements ``pyproject.toml`` names now."""
    build = "run `python -m infra.build_layer` (scanfleet deploy runs it), then synthesise again"
    wanted = requirements()
    found = built_for(layer_dir)
    if found is None:
        raise LayerNotBuiltError(
            f"the Lambda dependencies layer {layer_dir} is not built, and a stack without it "
            f"would deploy Lambdas that cannot import their dependencies: {build}"
        )
    if found != wanted:
        changed = sorted(set(found) ^ set(wanted))
        raise LayerNotBuiltError(
            f"the Lambda dependencies layer {layer_dir} was built for other requirements "
            f"than pyproject.toml's (differing: {', '.join(changed)}): {build}"
        )


def dependencies_layer(scope: Construct, layer_dir: Path = LAYER_DIR) -> lambda_.LayerVersion:
    check_layer(layer_dir)
    return lambda_.LayerVersion(
        scope,
        "Dependencies",
        code=lambda_.Code.from_asset(str(layer_dir)),
        compatible_runtimes=[RUNTIME],
        description="scanfleet Lambda dependencies: pydantic, PyYAML, optuna, Powertools",
    )


@dataclass(frozen=True)
class LambdaSettings:
    """The shared pieces of every function. ``environment`` is the base environment
    (table, bucket, Powertools settings); a function may add to it."""

    code: lambda_.Code
    layers: Sequence[lambda_.ILayerVersion]
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    environment: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_stack(
        cls,
        scope: Construct,
        *,
        table_name: str,
        bucket_name: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        layer_dir: Path = LAYER_DIR,
    ) -> LambdaSettings:
        """The one code asset and the dependencies layer (made in ``scope``), and the base
        environment naming the table and the bucket."""
        return cls(
            code=source_code(),
            layers=[dependencies_layer(scope, layer_dir)],
            log_retention=log_retention,
            removal_policy=removal_policy,
            environment=base_environment(table_name=table_name, bucket_name=bucket_name),
        )

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        module: str,
        entry: str = "handler",
        description: str,
        timeout: Duration | None = None,
        memory_size: int = 512,
        environment: Mapping[str, str] | None = None,
        scheduled: bool = False,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        """The function running ``lambdas/<module>.py``'s ``entry``, with its own log group;
        its role's basic findings (logs, X-Ray) are acknowledged here, once for all.

        ``scheduled``: invoked asynchronously by an EventBridge schedule, so an event that
        fails every retry goes to a dead-letter queue (``.dead_letter_queue``) instead of
        vanishing. ``reserved_concurrency``: at most (and always) this many at once."""
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=self.log_retention,
            removal_policy=self.removal_policy,
        )
        function = lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=self.code,
            handler=lambda_handler(module, entry),
            layers=list(self.layers),
            description=description,
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={**self.environment, **(environment or {})},
            dead_letter_queue=_dead_letter_queue(scope, construct_id) if scheduled else None,
            reserved_concurrent_executions=reserved_concurrency,
        )
        nag.acknowledge(function, nag.LAMBDA_ROLE)
        if not scheduled:
            nag.acknowledge_checkov(function, nag.CHECKOV_SYNCHRONOUS)
        if reserved_concurrency is None:
            nag.acknowledge_checkov(function, nag.CHECKOV_UNRESERVED)
        return function


def _dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """Where the events a scheduled function failed on (after Lambda's two retries) are kept
    for 14 days; an alarm watches it (``infra.monitoring``)."""
    return sqs.Queue(
        scope,
        f"{construct_id}DeadLetters",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )


def base_environment(*, table_name: str, bucket_name: str) -> dict[str, str]:
    return {
        names.ENV_TABLE_NAME: table_name,
        names.ENV_BUCKET_NAME: bucket_name,
        "POWERTOOLS_SERVICE_NAME": names.METRICS_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": names.METRICS_NAMESPACE,
    }
