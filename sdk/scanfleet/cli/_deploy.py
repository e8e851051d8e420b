"""``scanfleet deploy``: build the Lambda dependencies layer, then ``cdk deploy`` the stack
with the pinned CDK CLI (``npx --no-install cdk`` from the checkout's node_modules) and the
context the flags say. Runs from a checkout of the project (where ``cdk.json`` is).

The context keys, their defaults and their checks are ``infra/settings.py``'s; this module
only maps flags onto them and checks the values before anything is built.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanfleet.cli._common import SubParsers

if TYPE_CHECKING:
    from scanfleet.cloud.deploy_checks import Check

# flag (argparse dest) -> CDK context key of infra/settings.py
FLAG_CONTEXT = {
    "instance_types": "gpuInstanceTypes",
    "max_vcpus": "maxVcpus",
    "spot_strategy": "spotAllocationStrategy",
    "on_demand_fallback": "onDemandFallback",
    "vpc_id": "vpcId",
    "auth": "authMode",
    "log_retention_days": "logRetentionDays",
    "removal_policy": "removalPolicy",
    "worker_image": "workerImage",
    "alarm_email": "alarmEmail",
}
STACK_NAME_KEY = "stackName"
CDK = ["npx", "--no-install", "cdk"]  # the CLI package.json pins, from node_modules
DEFAULT_STACK_NAME = "scanfleet"


def register(sub: SubParsers) -> None:
    p = sub.add_parser(
        "deploy",
        help="deploy scanfleet to your AWS account (cdk deploy)",
        description="Build the Lambda layer, then cdk deploy the stack. Settings not given "
        "keep their defaults (docs/deploy.md).",
    )
    p.add_argument("--project", type=Path, default=Path("."), help="the checkout (default: .)")
    p.add_argument(
        "--stack-name",
        default=DEFAULT_STACK_NAME,
        help=f"CloudFormation stack name (default: {DEFAULT_STACK_NAME})",
    )
    p.add_argument("--profile", help="AWS profile for the deployment")
    p.add_argument("--region", help="AWS region (default: $AWS_REGION, else the profile's)")
    p.add_argument(
        "--account",
        help="AWS account id the --dry-run commands name (default: asked of STS when "
        "credentials exist)",
    )
    p.add_argument("--instance-types", help="GPU instance types, comma-separated")
    p.add_argument("--max-vcpus", type=int, help="most vCPUs the GPU compute environment runs")
    p.add_argument("--spot-strategy", help="Batch Spot allocation strategy")
    p.add_argument(
        "--on-demand-fallback",
        action="store_const",
        const="true",
        help="also create an On-Demand compute environment and queue",
    )
    p.add_argument("--vpc-id", help="an existing VPC (default: the stack creates one)")
    p.add_argument("--auth", help="iam, token or both")
    p.add_argument("--log-retention-days", type=int, help="days CloudWatch keeps the logs")
    p.add_argument("--removal-policy", help="retain or destroy")
    p.add_argument("--worker-image", help="container image (default: built from worker/)")
    p.add_argument("--alarm-email", help="an address the alarms write to")
    p.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other context setting (repeatable)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask to approve IAM changes")
    p.add_argument("--skip-layer", action="store_true", help="reuse build/lambda-layer")
    p.add_argument(
        "--check",
        action="store_true",
        help="say what the deployment lacks (credentials, CDK bootstrap, GPU Spot vCPU "
        "quota, Spot service-linked role, Lambda concurrency, the layer, Node); create nothing",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the commands, ready to paste (with region and account), run nothing",
    )
    p.set_defaults(handler=cmd_deploy)


@dataclass
class DeployPlan:
    project: Path
    commands: list[list[str]]  # run in order, in ``project``
    env: dict[str, str] = field(default_factory=dict)  # added to the environment
    context: dict[str, str] = field(default_factory=dict)


def plan_deploy(args: argparse.Namespace) -> DeployPlan:
    """The commands ``scanfleet deploy`` runs for ``args``, checked but not run.

    Raises:
        ValueError: not a checkout, an unknown context key, or a value the stack refuses
            (the message names the key).
    """
    project = args.project.resolve()
    if not (project / "cdk.json").is_file() or not (project / "infra").is_dir():
        raise ValueError(
            f"{project} is not a scanfleet checkout (no cdk.json and infra/): run from the "
            "repository root or pass --project"
        )
    context = _context(args)
    settings = _settings_module(project)
    known = {key.name for key in settings.CONTEXT} | {STACK_NAME_KEY}
    unknown = sorted(set(context) - known)
    if unknown:
        raise ValueError(f"unknown context key {unknown[0]!r}; known: {', '.join(sorted(known))}")
    settings.Settings.from_context(context.get)  # refuse a bad value before building anything

    cdk = [*CDK, "deploy", context[STACK_NAME_KEY]]
    cdk += ["--app", f"{sys.executable} app.py"]
    for key, value in context.items():
        cdk += ["-c", f"{key}={value}"]
    cdk += ["--require-approval", "never" if args.yes else "broadening"]
    if args.profile:
        cdk += ["--profile", args.profile]
    env = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    if args.region:
        env |= {"AWS_REGION": args.region, "AWS_DEFAULT_REGION": args.region}
    commands = [] if args.skip_layer else [[sys.executable, "-m", "infra.build_layer"]]
    return DeployPlan(project, [*commands, cdk], env, context)


def cmd_deploy(args: argparse.Namespace) -> int:
    plan = plan_deploy(args)
    if args.check:
        from scanfleet.cloud.deploy_checks import Status, report

        checks = deploy_checks(plan, args, os.environ)
        print(report(checks))
        return 1 if any(check.status is Status.MISSING for check in checks) else 0
    if args.dry_run:
        print("\n".join(dry_run_script(plan, args, os.environ)))
        return 0
    for command in plan.commands:
        print("$ " + shlex.join(command), flush=True)
        if command[0] == "npx" and not (plan.project / "node_modules" / ".bin" / "cdk").exists():
            raise ValueError(f"the pinned CDK CLI is not installed: run `npm ci` in {plan.project}")
        code = subprocess.call(command, cwd=plan.project, env={**os.environ, **plan.env})
        if code != 0:
            print(f"error: `{' '.join(command[:4])}` exited with {code}", file=sys.stderr)
            return code
    return 0


def _context(args: argparse.Namespace) -> dict[str, str]:
    context = {STACK_NAME_KEY: args.stack_name}
    for dest, key in FLAG_CONTEXT.items():
        value = getattr(args, dest)
        if value is not None:
            context[key] = str(value)
    for item in args.context:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--context {item!r}: expected KEY=VALUE")
        context[key.strip()] = value.strip()
    return context


def _settings_module(project: Path) -> Any:
    """``infra.settings`` of the checkout (plain Python: no CDK import)."""
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    return importlib.import_module("infra.settings")


# ---- --check: what is missing, before anything is created ---------------------------------


def deploy_checks(
    plan: DeployPlan, args: argparse.Namespace, environ: Mapping[str, str]
) -> list[Check]:
    """The account's prerequisites in the deploy's region (``scanfleet.cloud.deploy_checks``)
    and the checkout's: the layer ``scanfleet deploy`` would reuse, Node and the CDK CLI.

    Raises:
        ValueError: no region is known (the message says how to give one).
    """
    import boto3
    from botocore.config import Config

    from scanfleet.cloud.deploy_checks import (
        AccountClients,
        account_checks,
        check_layer,
        check_node,
    )

    region, _ = _region(args, environ)
    if region == PLACEHOLDER_REGION:
        raise ValueError("--check: no region known; pass --region or set AWS_REGION")
    settings = _settings_module(plan.project).Settings.from_context(plan.context.get)
    session = boto3.Session(profile_name=args.profile, region_name=region)
    quick = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
    clients = AccountClients(
        sts=session.client("sts", config=quick),
        cloudformation=session.client("cloudformation", config=quick),
        ssm=session.client("ssm", config=quick),
        service_quotas=session.client("service-quotas", config=quick),
        iam=session.client("iam", config=quick),
        lambda_=session.client("lambda", config=quick),
    )
    checks = account_checks(
        clients,
        region=region,
        needed_vcpus=settings.job_vcpus,
        reserved_concurrency=2 * settings.lane_concurrency,  # the lanes' claim and finish
    )
    layer = importlib.import_module("infra.build_layer")
    checks.append(check_layer(layer.built_for(), layer.requirements(), layer.LAYER_DIR))
    checks.append(check_node(plan.project))
    return checks


# ---- --dry-run: commands a person can paste ------------------------------------------------

PLACEHOLDER_ACCOUNT = "<ACCOUNT>"
PLACEHOLDER_REGION = "<REGION>"


def dry_run_script(
    plan: DeployPlan, args: argparse.Namespace, environ: Mapping[str, str]
) -> list[str]:
    """``plan`` as lines to paste into a shell: ``#`` notes saying where the account and
    the region come from, ``cd`` to the checkout, the CDK bootstrap of that account and
    region (once), then each command with the environment it needs (the region) in front.
    An account or region that cannot be known is a placeholder, with a note saying how to
    give it."""
    region, region_from = _region(args, environ)
    account, account_from = _account(args, region)
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, **plan.env}
    prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    lines = [
        f"# account {account} ({account_from}), region {region} ({region_from})",
        shlex.join(["cd", str(plan.project)]),
        "# once per account and region, if `cdk bootstrap` was never run there:",
        f"{prefix} {shlex.join([*CDK, 'bootstrap', f'aws://{account}/{region}', *_profile(args)])}",
    ]
    return lines + [f"{prefix} {shlex.join(command)}" for command in plan.commands]


def _profile(args: argparse.Namespace) -> list[str]:
    return ["--profile", args.profile] if args.profile else []


def _region(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, str]:
    """The region and where it came from: --region, $AWS_REGION, $AWS_DEFAULT_REGION, the
    profile's; else the placeholder."""
    if args.region:
        return args.region, "--region"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(name):
            return environ[name], f"${name}"
    try:
        import boto3

        region = boto3.Session(profile_name=args.profile).region_name
    except Exception:  # no boto3, an unknown profile: the placeholder says what to do
        region = None
    if region:
        return region, f"profile {args.profile or 'default'}"
    return PLACEHOLDER_REGION, "unknown: pass --region or set AWS_REGION"


def _account(args: argparse.Namespace, region: str) -> tuple[str, str]:
    """The account and where it came from: --account, else STS's answer for the
    credentials at hand; with no credentials (or no answer), the placeholder."""
    if args.account:
        if not re.fullmatch(r"\d{12}", args.account):
            raise ValueError(f"--account: an AWS account id is 12 digits, got {args.account!r}")
        return args.account, "--account"
    try:
        import boto3
        from botocore.config import Config

        session = boto3.Session(
            profile_name=args.profile,
            region_name=None if region == PLACEHOLDER_REGION else region,
        )
        if session.get_credentials() is None:
            return PLACEHOLDER_ACCOUNT, "no AWS credentials found: pass --account or log in"
        quick = Config(connect_timeout=5, read_timeout=5, retries={"max_attempts": 1})
        account = session.client("sts", config=quick).get_caller_identity()["Account"]
    except Exception as error:  # any failure only costs the account's name in the output
        return PLACEHOLDER_ACCOUNT, f"STS did not say ({error}): pass --account"
    return str(account), "STS"
