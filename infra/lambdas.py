"""How every Lambda of the stack is built: one code asset, one dependencies layer, one set
of defaults. Each construct makes its own functions with :meth:`LambdaSettings.function`,
naming the handler's module in ``lambdas/`` and its function; the handler setting is derived
from them by ``infra.paths.lambda_handler``, the one place that knows the convention.

The code asset is ``sdk/scanfleet`` and ``lambdas/``, copied at synth time by a local
bundler (no Docker). Third-party packages (pydantic, PyYAML, optuna, Powertools) come from
a layer folder that ``python -m infra.build_layer`` fills with Linux wheels; without it the
synth still works (offline, in tests) with an empty placeholder layer and a warning, and
``scanfleet deploy`` always builds it first.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Annotations,
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
)
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from scanfleet import names

from infra import nag
from infra.paths import (
    LAMBDAS_DIR,
    LAYER_DIR,
    LAYER_MARKER,
    LAYER_PLACEHOLDER_DIR,
    SDK_PACKAGE_DIR,
    lambda_handler,
)

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


def layer_is_built(layer_dir: Path = LAYER_DIR) -> bool:
    return (layer_dir / LAYER_MARKER).is_file()


def dependencies_layer(scope: Construct, layer_dir: Path = LAYER_DIR) -> lambda_.LayerVersion:
    if not layer_is_built(layer_dir):
        Annotations.of(scope).add_warning_v2(
            "scanfleet:layer-not-built",
            f"{layer_dir} is not built: the Lambdas would lack their dependencies. Run "
            "`python -m infra.build_layer` (scanfleet deploy does) before deploying.",
        )
        layer_dir = LAYER_PLACEHOLDER_DIR
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
    ) -> lambda_.Function:
        """The function running ``lambdas/<module>.py``'s ``entry``, with its own log group;
        its role's basic findings (logs, X-Ray) are acknowledged here, once for all."""
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
        )
        nag.acknowledge(function, nag.LAMBDA_ROLE)
        return function


def base_environment(*, table_name: str, bucket_name: str) -> dict[str, str]:
    return {
        names.ENV_TABLE_NAME: table_name,
        names.ENV_BUCKET_NAME: bucket_name,
        "POWERTOOLS_SERVICE_NAME": names.METRICS_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": names.METRICS_NAMESPACE,
    }
