"""What a deployment needs before anything is created (``scanfleet deploy --check``):
credentials, the CDK bootstrap of the account and region, the GPU Spot vCPU quota, the EC2
Spot service-linked role, room for the reserved Lambda concurrency, the Lambda layer and
Node with the pinned CDK CLI.

Each check takes the boto3 client it asks (built once by the caller, so tests pass moto's)
and answers a :class:`Check`: ``ok``, ``missing`` (with what to do) or ``unknown`` (the
service did not say; the detail says why). Nothing here creates or changes anything.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

BOOTSTRAP_STACK = "CDKToolkit"
BOOTSTRAP_QUALIFIER = "hnb659fds"  # the CDK's default
# the CDK's default synthesizer asks for this bootstrap version (its assets manifest's
# requiresBootstrapStackVersion); older ones lack the asset publishing roles
MIN_BOOTSTRAP_VERSION = 6
SPOT_QUOTA_CODE = "L-3819A6DF"  # EC2: "All G and VT Spot Instance Requests", in vCPUs
SPOT_SERVICE_LINKED_ROLE = "AWSServiceRoleForEC2Spot"
SPOT_ROLE_PATH = "/aws-service-role/spot.amazonaws.com/"
UNRESERVED_MINIMUM = 100  # Lambda keeps this much of an account's concurrency unreserved
MIN_NODE_MAJOR = 20


class Status(StrEnum):
    OK = "ok"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(error).__name__))


def check_credentials(sts: Any) -> Check:
    try:
        who = sts.get_caller_identity()
    except Exception as error:  # no credentials, expired ones, no network: all say the same
        return Check(
            "credentials",
            Status.MISSING,
            f"STS did not accept the credentials ({_error_code(error)}): log in, or pass --profile",
        )
    return Check("credentials", Status.OK, f"{who['Arn']} (account {who['Account']})")


def check_bootstrap(
    cloudformation: Any,
    ssm: Any,
    *,
    account: str,
    region: str,
    qualifier: str = BOOTSTRAP_QUALIFIER,
) -> Check:
    """The CDKToolkit stack and the bootstrap version parameter it writes."""
    bootstrap = f"run `npx cdk bootstrap aws://{account}/{region}` once"
    try:
        [stack] = cloudformation.describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except Exception as error:
        if "does not exist" in str(error):
            return Check("bootstrap", Status.MISSING, f"no {BOOTSTRAP_STACK} stack: {bootstrap}")
        return Check("bootstrap", Status.UNKNOWN, f"CloudFormation: {_error_code(error)}")
    state = stack["StackStatus"]
    if state.endswith("_FAILED") or state in ("ROLLBACK_COMPLETE", "DELETE_COMPLETE"):
        return Check("bootstrap", Status.MISSING, f"{BOOTSTRAP_STACK} is {state}: {bootstrap}")
    name = f"/cdk-bootstrap/{qualifier}/version"
    try:
        version = int(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except Exception as error:
        return Check("bootstrap", Status.MISSING, f"no {name} ({_error_code(error)}): {bootstrap}")
    if version < MIN_BOOTSTRAP_VERSION:
        return Check(
            "bootstrap",
            Status.MISSING,
            f"bootstrap version {version}, the CDK needs {MIN_BOOTSTRAP_VERSION}+: {bootstrap}",
        )
    return Check("bootstrap", Status.OK, f"{BOOTSTRAP_STACK} {state}, version {version}")


def check_spot_quota(service_quotas: Any, *, region: str, needed_vcpus: int) -> Check:
    """The region's "All G and VT Spot Instance Requests" quota against the vCPUs one job
    needs (0 means no GPU Spot instance can start at all)."""
    name = "GPU Spot vCPU quota"
    value = None
    for ask in ("get_service_quota", "get_aws_default_service_quota"):
        try:
            answer = getattr(service_quotas, ask)(ServiceCode="ec2", QuotaCode=SPOT_QUOTA_CODE)
            value = answer["Quota"]["Value"]
            break
        except Exception as error:
            reason = _error_code(error)
    if value is None:
        return Check(
            name,
            Status.UNKNOWN,
            f"Service Quotas did not say ({reason}); see quota {SPOT_QUOTA_CODE} (All G and "
            f"VT Spot Instance Requests) in {region}",
        )
    vcpus = int(value)
    if vcpus < needed_vcpus:
        return Check(
            name,
            Status.MISSING,
            f"{vcpus} vCPUs in {region}, one job needs {needed_vcpus}: request an increase "
            f"of quota {SPOT_QUOTA_CODE} (Service Quotas console, or `aws service-quotas "
            f"request-service-quota-increase --service-code ec2 --quota-code "
            f"{SPOT_QUOTA_CODE} --desired-value 64 --region {region}`)",
        )
    return Check(name, Status.OK, f"{vcpus} vCPUs in {region} ({vcpus // needed_vcpus} jobs)")


def check_spot_role(iam: Any) -> Check:
    """Looked for by its service-linked path (``/aws-service-role/spot.amazonaws.com/``)."""
    name = "Spot service-linked role"
    try:
        roles = iam.list_roles(PathPrefix=SPOT_ROLE_PATH)["Roles"]
    except Exception as error:
        return Check(name, Status.UNKNOWN, f"IAM: {_error_code(error)}")
    if not roles:
        return Check(
            name,
            Status.MISSING,
            f"no {SPOT_SERVICE_LINKED_ROLE}: create it once: `aws iam "
            "create-service-linked-role --aws-service-name spot.amazonaws.com`",
        )
    return Check(name, Status.OK, roles[0]["RoleName"])


def check_lambda_concurrency(lambda_: Any, *, reserved: int) -> Check:
    """Reserving ``reserved`` must leave the account its 100 unreserved executions."""
    name = "Lambda concurrency"
    try:
        limits = lambda_.get_account_settings()["AccountLimit"]
    except Exception as error:
        return Check(name, Status.UNKNOWN, f"Lambda did not say ({_error_code(error)})")
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    if unreserved - reserved < UNRESERVED_MINIMUM:
        return Check(
            name,
            Status.MISSING,
            f"{unreserved} unreserved executions, the stack reserves {reserved}: pass "
            "-c laneConcurrency=0, or request a higher Lambda concurrency quota",
        )
    return Check(name, Status.OK, f"{unreserved} unreserved, the stack reserves {reserved}")


def check_layer(found: Sequence[str] | None, wanted: Sequence[str], layer_dir: Path) -> Check:
    """``found``: the requirements the layer folder was built for (None: not built)."""
    build = "`scanfleet deploy` builds it (needs PyPI); plain `cdk deploy` stops without it"
    if found is None:
        return Check("Lambda layer", Status.MISSING, f"{layer_dir} is not built: {build}")
    if list(found) != list(wanted):
        return Check(
            "Lambda layer", Status.MISSING, f"{layer_dir} is built for other requirements: {build}"
        )
    return Check("Lambda layer", Status.OK, str(layer_dir))


def check_node(
    project: Path,
    *,
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., Any] = subprocess.run,
) -> Check:
    """Node 20+ on PATH and the CDK CLI package.json pins, installed by ``npm ci``."""
    node = which("node")
    if node is None:
        return Check(
            "Node", Status.MISSING, f"no `node` on PATH: install Node.js {MIN_NODE_MAJOR}+"
        )
    version = run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v?(\d+)", version)
    if major is None or int(major[1]) < MIN_NODE_MAJOR:
        return Check(
            "Node", Status.MISSING, f"node {version or '?'}: the CDK needs {MIN_NODE_MAJOR}+"
        )
    if not (project / "node_modules" / ".bin" / "cdk").exists():
        return Check(
            "Node", Status.MISSING, f"node {version}, no CDK CLI: run `npm ci` in {project}"
        )
    return Check("Node", Status.OK, f"node {version}, CDK CLI in node_modules")


@dataclass
class AccountClients:
    """The boto3 clients the account checks ask, for one region."""

    sts: Any
    cloudformation: Any
    ssm: Any
    service_quotas: Any
    iam: Any
    lambda_: Any


def account_checks(
    clients: AccountClients, *, region: str, needed_vcpus: int, reserved_concurrency: int
) -> list[Check]:
    """Credentials first; without them the others cannot be asked and say so."""
    credentials = check_credentials(clients.sts)
    names = ("bootstrap", "GPU Spot vCPU quota", "Spot service-linked role", "Lambda concurrency")
    if credentials.status is not Status.OK:
        return [credentials, *(Check(n, Status.UNKNOWN, "needs credentials") for n in names)]
    account = credentials.detail.rsplit("account ", 1)[1].rstrip(")")
    return [
        credentials,
        check_bootstrap(clients.cloudformation, clients.ssm, account=account, region=region),
        check_spot_quota(clients.service_quotas, region=region, needed_vcpus=needed_vcpus),
        check_spot_role(clients.iam),
        check_lambda_concurrency(clients.lambda_, reserved=reserved_concurrency),
    ]


def report(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    return "\n".join(f"{c.status.value:<8} {c.name:<{width}}  {c.detail}" for c in checks)
