"""Synthesise the CDK app once per process for each context: the infra tests and the cloud
tier share the result (``synthesise_once()`` is the default deployment)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ALT_CONTEXT: dict[str, Any] = {
    "stackName": "scanfleet-alt",
    "gpuInstanceTypes": "p3.2xlarge,g5.12xlarge",
    "maxVcpus": "64",
    "spotAllocationStrategy": "SPOT_CAPACITY_OPTIMIZED",
    "onDemandFallback": "true",
    "onDemandMaxVcpus": "16",
    "onDemandAfterPreemptions": "1",
    "runnableTimeoutMinutes": "45",
    "authMode": "token",
    "apiAccessLogs": "false",
    "logRetentionDays": "7",
    "removalPolicy": "destroy",
    "workerImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:v3",
    "jobVcpus": "8",
    "jobMemoryMiB": "30000",
    "jobTimeoutMinutes": "90",
    "jobAttempts": "3",
    "laneConcurrency": "7",
    "reaperIntervalMinutes": "10",
    "apiRateLimit": "20",
    "apiBurstLimit": "40",
    "checkpointExpiryDays": "7",
    "alarmEmail": "ops@example.com",
}


@dataclass
class Synthesised:
    template: dict[str, Any]
    outdir: Path
    stack: Any  # infra.stack.ScanfleetStack
    seconds: float
    assembly: Any  # aws_cdk.cx_api.CloudAssembly

    def warnings(self) -> list[str]:
        from aws_cdk.cx_api import SynthesisMessageLevel

        stack = self.assembly.get_stack_by_name(self.stack.stack_name)
        return [
            str(m.entry.data) for m in stack.messages if m.level is SynthesisMessageLevel.WARNING
        ]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == kind}

    def one(self, kind: str) -> dict[str, Any]:
        found = list(self.resources(kind).values())
        assert len(found) == 1, f"{len(found)} {kind}"
        return found[0]

    def referenced(self, value: Any, kind: str) -> list[dict[str, Any]]:
        """The resources of ``kind`` that ``value`` (a property) refers to by Ref/GetAtt."""
        found: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, inner in node.items():
                    if key == "Ref" and isinstance(inner, str):
                        found.append(inner)
                    elif key == "Fn::GetAtt":
                        found.append(inner[0])
                    else:
                        walk(inner)
            elif isinstance(node, list):
                for inner in node:
                    walk(inner)

        walk(value)
        resources = self.template["Resources"]
        return [
            resources[f] for f in dict.fromkeys(found) if resources.get(f, {}).get("Type") == kind
        ]

    def assertions(self) -> Any:
        from aws_cdk.assertions import Template

        return Template.from_json(self.template)


def stand_in_layer(folder: Path) -> Path:
    """A tiny dependencies layer in ``folder/layer``, complete as far as the stack can tell
    (its marker names pyproject's requirements): what a deploy has after ``python -m
    infra.build_layer``, without PyPI. Never the real ``build/lambda-layer``, so the template
    does not depend on what this machine holds."""
    from infra.build_layer import requirements, write_marker

    layer = folder / "layer"
    (layer / "python").mkdir(parents=True, exist_ok=True)
    (layer / "python" / "stand_in.py").write_text("# a built layer, for the tests\n")
    write_marker(layer, requirements())
    return layer


@functools.cache
def synthesise_once(context: tuple[tuple[str, Any], ...] = ()) -> Synthesised:
    """The app synthesised with ``context`` (pairs, so it can be a cache key) and a
    :func:`stand_in_layer`, into a fresh temporary folder; the same object for the same
    arguments for the rest of the process."""
    import aws_cdk as cdk

    from infra.app import build_app

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="scanfleet-cdk-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    app = cdk.App(outdir=str(work / "cdk.out"), context=dict(context))
    stack = build_app(app, env={}, layer_dir=stand_in_layer(work))
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    seconds = time.perf_counter() - started
    return Synthesised(template, work / "cdk.out", stack, seconds, assembly)
