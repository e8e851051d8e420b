"""Deploy the synthesised template into moto: the resources the state machine runs on.

moto's own CloudFormation cannot create CDK's Batch compute environment, so this creates
the table, bucket, functions, job queue, job definition and state machine with the
service APIs, from their template properties, and resolves the template's intrinsic
functions (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``,
``Fn::Sub``) to the moto names and ARNs. Whatever else the template holds (API Gateway,
alarms, the VPC) is not needed to run a scan and is left out.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3
from scanfleet.store import create_table

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/scanfleet-test-role"  # Batch's service role
IAM_API_ID, TOKEN_API_ID = "abc123", "tok456"  # the REST APIs' ids (``Ref``)


@dataclass
class Deployment:
    """What was created: physical names by logical id, and the ARNs the test needs."""

    stack_name: str
    physical: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    table_name: str = ""
    bucket_name: str = ""
    state_machine_arn: str = ""
    job_queue_arn: str = ""
    job_definition_arn: str = ""
    functions: dict[str, str] = field(default_factory=dict)  # handler → function name
    roles: dict[str, str] = field(default_factory=dict)  # logical id → role ARN
    function_roles: dict[str, str] = field(default_factory=dict)  # function name → role ARN
    unattached: list[str] = field(default_factory=list)  # managed policies moto lacks
    secrets: dict[str, str] = field(default_factory=dict)  # logical id → SecretString
    environments: dict[str, dict[str, str]] = field(default_factory=dict)  # by handler


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


class Resolver:
    def __init__(self, stack_name: str, deployment: Deployment) -> None:
        self.pseudo = {**PSEUDO, "AWS::StackName": stack_name}
        self.d = deployment

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                found = self.d.arns.get(f"{logical}.{attribute}")
                if found is None and attribute.endswith("Arn"):  # a resource not made here
                    return f"arn:aws:not-deployed:{REGION}:{ACCOUNT}:{logical}"
                return found if found is not None else f"{logical}-{attribute}"
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self(p)) for p in self(parts))
            if key == "Fn::Select":
                index, items = arg
                return self(items)[int(self(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self(text)).split(sep)
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.ref(m.group(1))), text)
        return {k: self(v) for k, v in value.items()}

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        return self.d.physical.get(name, f"{name.lower()}-placeholder")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the handlers run in-process under the test\n")
    return buffer.getvalue()


def _lower_keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {(k[:1].lower() + k[1:]): _lower_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_lower_keys(v) for v in data]
    return data


def _name_physical_ids(template: dict[str, Any], d: Deployment) -> None:
    """Every resource the test creates gets its name and ARNs first, so any resource can
    refer to any other whatever the creation order."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    for logical in _of_type(template, "AWS::DynamoDB::Table"):
        d.physical[logical] = d.table_name = f"{d.stack_name}-{logical}".lower()
        d.arns[f"{logical}.Arn"] = arn.format("dynamodb", f"table/{d.table_name}")
    for logical in _of_type(template, "AWS::S3::Bucket"):
        d.physical[logical] = f"{d.stack_name}-{logical}".lower()
        d.arns[f"{logical}.Arn"] = f"arn:aws:s3:::{d.physical[logical]}"
    for logical in _of_type(template, "AWS::ApiGateway::RestApi"):
        d.physical[logical] = TOKEN_API_ID if "Agent" in logical else IAM_API_ID
    for logical, resource in _of_type(template, "AWS::Lambda::Function").items():
        d.physical[logical] = logical
        d.arns[f"{logical}.Arn"] = arn.format("lambda", f"function:{logical}")
        d.functions[resource["Properties"]["Handler"]] = logical
    for logical in _of_type(template, "AWS::SecretsManager::Secret"):
        d.physical[logical] = f"{d.stack_name}-{logical}"  # the name; Ref: its ARN, once made
    for logical in _of_type(template, "AWS::IAM::Role"):
        d.physical[logical] = role_name(d.stack_name, logical)
        d.arns[f"{logical}.Arn"] = d.roles[logical] = (
            f"arn:aws:iam::{ACCOUNT}:role/{d.physical[logical]}"
        )
    for logical in _of_type(template, "AWS::Batch::JobQueue"):
        d.physical[logical] = d.job_queue_arn = arn.format("batch", f"job-queue/{logical}")
        d.arns[f"{logical}.JobQueueArn"] = d.job_queue_arn
    for logical in _of_type(template, "AWS::Batch::JobDefinition"):
        d.physical[logical] = d.job_definition_arn = arn.format(
            "batch", f"job-definition/{logical}:1"
        )


def role_name(stack_name: str, logical: str) -> str:
    """The name CloudFormation gives a role without one: ``<stack>-<logical id>``, cut."""
    return f"{stack_name}-{logical}"[:64]


def _create_roles(template: dict[str, Any], d: Deployment, resolve: Resolver) -> None:
    """Every role of the template, with its trust policy and exactly the policies the
    template attaches to it (inline ``AWS::IAM::Policy`` documents, resolved; managed
    policies by ARN where moto has them, else listed in ``d.unattached``)."""
    iam = boto3.client("iam")
    for logical, resource in _of_type(template, "AWS::IAM::Role").items():
        props = resolve(resource["Properties"])
        iam.create_role(
            RoleName=d.physical[logical],
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
        )
        for managed in props.get("ManagedPolicyArns", []):
            try:
                iam.attach_role_policy(RoleName=d.physical[logical], PolicyArn=managed)
            except iam.exceptions.NoSuchEntityException:
                d.unattached.append(managed)
    for logical, resource in _of_type(template, "AWS::IAM::Policy").items():
        props = resource["Properties"]
        for role in props.get("Roles", []):
            iam.put_role_policy(
                RoleName=d.physical[role["Ref"]],
                PolicyName=logical,
                PolicyDocument=json.dumps(resolve(props["PolicyDocument"])),
            )


def _generated_secret(props: dict[str, Any]) -> str:
    """What Secrets Manager generates from ``GenerateSecretString``: the template with a
    random string under ``GenerateStringKey``."""
    generate = props.get("GenerateSecretString") or {}
    document = json.loads(generate.get("SecretStringTemplate") or "{}")
    if generate.get("GenerateStringKey"):
        length = int(generate.get("PasswordLength") or 32)
        document[generate["GenerateStringKey"]] = secrets.token_hex(length)[:length]
    return json.dumps(document)


def create_job_queue(batch: Any, name: str) -> str:
    """A job queue over an unmanaged compute environment (moto runs no instances).
    Returns its ARN. The IAM role ``ROLE_ARN`` must exist."""
    compute = batch.create_compute_environment(
        computeEnvironmentName=f"{name}-compute",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=ROLE_ARN,
    )
    queue = batch.create_job_queue(
        jobQueueName=name,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": compute["computeEnvironmentArn"]}
        ],
    )
    return str(queue["jobQueueArn"])


def deploy(template: dict[str, Any], *, stack_name: str) -> Deployment:
    """Create the template's data, Lambda, Batch and Step Functions resources in moto
    (call inside ``mock_aws``)."""
    d = Deployment(stack_name)
    _name_physical_ids(template, d)
    resolve = Resolver(stack_name, d)

    boto3.client("iam").create_role(
        RoleName=ROLE_ARN.rsplit("/", 1)[1],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    secret_store = boto3.client("secretsmanager", region_name=REGION)
    for logical, resource in _of_type(template, "AWS::SecretsManager::Secret").items():
        d.secrets[logical] = _generated_secret(resource["Properties"])
        made = secret_store.create_secret(Name=d.physical[logical], SecretString=d.secrets[logical])
        d.physical[logical] = made["ARN"]  # Ref of a secret is its ARN
    _create_roles(template, d, resolve)
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for logical in _of_type(template, "AWS::DynamoDB::Table"):
        create_table(dynamodb, d.physical[logical])
    s3 = boto3.client("s3", region_name=REGION)
    for logical in _of_type(template, "AWS::S3::Bucket"):
        s3.create_bucket(Bucket=d.physical[logical])
        d.bucket_name = d.bucket_name or d.physical[logical]

    awslambda = boto3.client("lambda", region_name=REGION)
    for logical, resource in _of_type(template, "AWS::Lambda::Function").items():
        props = resource["Properties"]
        env = {
            k: str(v) for k, v in resolve(props.get("Environment", {})).get("Variables", {}).items()
        }
        d.function_roles[logical] = resolve(props["Role"])
        awslambda.create_function(
            FunctionName=logical,
            Runtime=props["Runtime"],
            Role=d.function_roles[logical],
            Handler=props["Handler"],
            Code={"ZipFile": _zip()},
            Timeout=props.get("Timeout", 30),
            Environment={"Variables": env},
        )
        d.environments[props["Handler"]] = env

    batch = boto3.client("batch", region_name=REGION)
    for logical in _of_type(template, "AWS::Batch::JobQueue"):
        create_job_queue(batch, logical)
    for logical, resource in _of_type(template, "AWS::Batch::JobDefinition").items():
        props = _lower_keys(resolve(resource["Properties"]))
        container = props["containerProperties"]
        answer = batch.register_job_definition(
            jobDefinitionName=logical,
            type="container",
            containerProperties={
                "image": container["image"],
                "command": container.get("command") or ["python", "-m", "scanfleet.runtime.batch"],
                "environment": container.get("environment", []),
                "resourceRequirements": container.get("resourceRequirements", []),
            },
            retryStrategy=props.get("retryStrategy", {}),
            timeout=props.get("timeout", {}),
        )
        d.job_definition_arn = d.physical[logical] = answer["jobDefinitionArn"]

    sfn = boto3.client("stepfunctions", region_name=REGION)
    for logical, resource in _of_type(template, "AWS::StepFunctions::StateMachine").items():
        props = resource["Properties"]
        answer = sfn.create_state_machine(
            name=resolve(props["StateMachineName"]),
            definition=resolve(props["DefinitionString"]),
            roleArn=resolve(props["RoleArn"]),
        )
        d.state_machine_arn = d.physical[logical] = answer["stateMachineArn"]
    return d
