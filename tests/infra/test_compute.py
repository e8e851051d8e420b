"""Batch on Spot GPUs, the job definition's retry rules, and the reaper's schedule."""

from __future__ import annotations

import json

from scanfleet import names

from tests.infra.synth import Synthesised


def test_spot_compute_environment_on_gpu_instances(synthesised: Synthesised):
    env = synthesised.one("AWS::Batch::ComputeEnvironment")["Properties"]
    resources = env["ComputeResources"]
    assert env["Type"] == "managed"
    assert resources["Type"] == "SPOT"
    assert resources["AllocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    # Amazon Linux 2023's ECS GPU AMI (AL2's accelerated AMI support is ending)
    assert resources["Ec2Configuration"] == [{"ImageType": "ECS_AL2023_NVIDIA"}]
    assert resources["InstanceTypes"] == [
        "g5.xlarge", "g5.2xlarge", "g6.xlarge", "g4dn.xlarge", "g4dn.2xlarge"
    ]  # fmt: skip
    assert (resources["MinvCpus"], resources["MaxvCpus"]) == (0, 256)


def test_one_queue_without_on_demand_fallback(synthesised: Synthesised):
    queue = synthesised.one("AWS::Batch::JobQueue")["Properties"]
    assert len(queue["ComputeEnvironmentOrder"]) == 1


RUNNABLE_REASONS = [
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
]


def test_a_job_stuck_runnable_is_cancelled_after_the_documented_time(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    from scanfleet.cloud import RUNNABLE_CANCEL_REASONS

    assert sorted(RUNNABLE_CANCEL_REASONS) == RUNNABLE_REASONS  # Finish explains each one
    limits = synthesised.one("AWS::Batch::JobQueue")["Properties"]["JobStateTimeLimitActions"]
    assert limits == [
        {"Action": "CANCEL", "MaxTimeSeconds": 30 * 60, "Reason": reason, "State": "RUNNABLE"}
        for reason in RUNNABLE_REASONS
    ]
    # the On-Demand fallback queue too, with runnableTimeoutMinutes from the context
    queues = synthesised_alt.resources("AWS::Batch::JobQueue").values()
    assert len(queues) == 2
    for queue in queues:
        actions = queue["Properties"]["JobStateTimeLimitActions"]
        assert {a["MaxTimeSeconds"] for a in actions} == {45 * 60}
        assert sorted(a["Reason"] for a in actions) == RUNNABLE_REASONS


def test_the_start_lease_outlasts_the_runnable_limit():
    """The reaper must not re-queue a trial (so that another lane submits a second job)
    while its job may still wait RUNNABLE."""
    from scanfleet.cloud import LaneSettings

    from infra.settings import CONTEXT

    default = next(key.default for key in CONTEXT if key.name == "runnableTimeoutMinutes")
    for minutes in (default, 10, 1440):
        lease = LaneSettings(runnable_timeout_minutes=minutes).start_lease_seconds
        assert lease >= minutes * 60 + 15 * 60


def test_retry_rules_retry_spot_reclaims_and_interruptions_and_exit_otherwise(
    synthesised: Synthesised,
):
    strategy = synthesised.one("AWS::Batch::JobDefinition")["Properties"]["RetryStrategy"]
    assert strategy["Attempts"] == 5
    assert strategy["EvaluateOnExit"] == [
        {"Action": "RETRY", "OnStatusReason": "Host EC2*"},
        {"Action": "RETRY", "OnExitCode": names.BATCH_RETRY_EXIT_CODES},
        {"Action": "EXIT", "OnReason": "*"},  # last: Batch retries when no rule matches
    ]


def test_the_retry_exit_pattern_matches_the_interruption_code():
    from fnmatch import fnmatch

    assert fnmatch(str(int(names.ExitCode.INTERRUPTED)), names.BATCH_RETRY_EXIT_CODES)
    assert not fnmatch(str(int(names.ExitCode.SCRIPT_FAILED)), names.BATCH_RETRY_EXIT_CODES)


def test_job_definition_one_gpu_timeout_and_environment(synthesised: Synthesised):
    job = synthesised.one("AWS::Batch::JobDefinition")["Properties"]
    container = job["ContainerProperties"]
    requirements = {r["Type"]: r["Value"] for r in container["ResourceRequirements"]}
    assert requirements == {"GPU": "1", "VCPU": "4", "MEMORY": "14000"}
    assert job["Timeout"] == {"AttemptDurationSeconds": 720 * 60}
    assert job["PlatformCapabilities"] == ["EC2"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env[names.ENV_AUTH] == "iam"
    assert set(env) >= {
        names.ENV_API_URL, names.ENV_BUCKET_NAME, names.ENV_CHECKPOINT_URL, "AWS_DEFAULT_REGION"
    }  # fmt: skip
    assert env[names.ENV_CHECKPOINT_URL]["Fn::Join"][1][-1] == "/checkpoints/"
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"


def test_default_image_is_built_from_the_worker_dockerfile(synthesised: Synthesised):
    image = synthesised.one("AWS::Batch::JobDefinition")["Properties"]["ContainerProperties"][
        "Image"
    ]
    assert "cdk-hnb659fds-container-assets" in str(image)  # a DockerImageAsset, pushed at deploy
    manifests = list(synthesised.outdir.glob("*.assets.json"))
    images = [
        source
        for manifest in manifests
        for source in (
            entry["source"] for entry in json.loads(manifest.read_text())["dockerImages"].values()
        )
    ]
    assert len(images) == 1
    assert images[0]["dockerFile"] == "worker/Dockerfile"
    # scanfleet is not on PyPI: the image installs the checkout it is built from
    assert images[0]["dockerBuildArgs"]["SCANFLEET_SPEC"] == ".[server]"
    # built for the GPU instances, whatever machine deploys (an arm64 laptop too)
    assert images[0]["platform"] == "linux/amd64"


def test_the_image_context_leaves_out_what_dockerignore_lists(synthesised: Synthesised):
    from infra.compute import WORKER_CONTEXT_EXCLUDES
    from infra.paths import DOCKERIGNORE, ROOT

    listed = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert listed == WORKER_CONTEXT_EXCLUDES  # one list: the file buildah and docker read
    [manifest] = synthesised.outdir.glob("*.assets.json")
    [image] = json.loads(manifest.read_text())["dockerImages"].values()
    staged = synthesised.outdir / image["source"]["directory"]
    assert (staged / "worker" / "Dockerfile").is_file() and (staged / "sdk").is_dir()
    assert (ROOT / "tests").is_dir() and not (staged / "tests").exists()
    for top in (".venv", "build", ".git", "node_modules", "cdk.out"):
        assert not (staged / top).exists(), top
    assert not list(staged.rglob("__pycache__"))


def test_reaper_runs_on_a_schedule(synthesised: Synthesised):
    rules = [
        r["Properties"]
        for r in synthesised.resources("AWS::Events::Rule").values()
        if "reaper" in r["Properties"]["Description"]
    ]
    assert len(rules) == 1 and rules[0]["ScheduleExpression"] == "rate(5 minutes)"
    [target] = synthesised.referenced(rules[0]["Targets"], "AWS::Lambda::Function")
    assert target["Properties"]["Handler"] == "lambdas.reaper.handler"


def test_context_settings_reach_the_compute_resources(synthesised_alt: Synthesised):
    envs = [
        r["Properties"]["ComputeResources"]
        for r in synthesised_alt.resources("AWS::Batch::ComputeEnvironment").values()
    ]
    by_type = {e["Type"]: e for e in envs}
    assert set(by_type) == {"SPOT", "EC2"}
    assert by_type["SPOT"]["AllocationStrategy"] == "SPOT_CAPACITY_OPTIMIZED"
    assert by_type["SPOT"]["MaxvCpus"] == 64 and by_type["EC2"]["MaxvCpus"] == 16
    assert by_type["SPOT"]["InstanceTypes"] == ["p3.2xlarge", "g5.12xlarge"]
    assert len(synthesised_alt.resources("AWS::Batch::JobQueue")) == 2  # + On-Demand fallback
    job = synthesised_alt.one("AWS::Batch::JobDefinition")["Properties"]
    container = job["ContainerProperties"]
    assert container["Image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:v3"
    requirements = {r["Type"]: r["Value"] for r in container["ResourceRequirements"]}
    assert requirements == {"GPU": "1", "VCPU": "8", "MEMORY": "30000"}
    assert job["Timeout"] == {"AttemptDurationSeconds": 90 * 60}
    assert job["RetryStrategy"]["Attempts"] == 3
    schedules = {
        r["Properties"]["ScheduleExpression"]
        for r in synthesised_alt.resources("AWS::Events::Rule").values()
    }
    assert "rate(10 minutes)" in schedules


def test_instances_serve_the_spot_notice_to_containers_over_imdsv2(synthesised: Synthesised):
    template = synthesised.one("AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]
    assert template["MetadataOptions"]["HttpTokens"] == "required"
    assert template["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    for env in synthesised.resources("AWS::Batch::ComputeEnvironment").values():
        assert "LaunchTemplate" in env["Properties"]["ComputeResources"]


def test_plan_may_register_job_definition_copies_and_pass_their_roles(synthesised: Synthesised):
    """A scan with its own image runs a copy of the job definition that Plan registers."""
    [plan] = [
        logical_id
        for logical_id, fn in synthesised.resources("AWS::Lambda::Function").items()
        if fn["Properties"]["Handler"] == "lambdas.orchestration.plan"
    ]
    role_ref = {
        "Ref": synthesised.template["Resources"][plan]["Properties"]["Role"]["Fn::GetAtt"][0]
    }
    actions: set[str] = set()
    for policy in synthesised.resources("AWS::IAM::Policy").values():
        if role_ref in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                actions.update([action] if isinstance(action, str) else action)
    assert {
        "batch:DescribeJobDefinitions",
        "batch:RegisterJobDefinition",
        "iam:PassRole",
    } <= actions
