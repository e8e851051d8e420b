"""ScanExecutions as the service's scan lifecycle in AWS (what the API Lambda builds):
remote scans start, re-open and cancel their executions; other scans are left alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from scanfleet.cloud import ScanExecutions
from scanfleet.records import ScanStatus
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

from tests.cloud.deploy import ROLE_ARN, create_job_queue
from tests.cloud.moto_patches import AttemptEnd, JobAttemptRun, batch_jobs
from tests.unit.cloud.lanes_fixtures import MACHINE, OWNER, REGION, remote


@pytest.fixture
def cloud_service(tmp_path: Path) -> Iterator[tuple[ScanService, ScanExecutions]]:
    with mock_aws(config={"batch": {"use_docker": False}}):  # type: ignore[arg-type]
        boto3.client("iam").create_role(
            RoleName=ROLE_ARN.rsplit("/", 1)[1], AssumeRolePolicyDocument="{}"
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="scanfleet-scans", definition=json.dumps(MACHINE), roleArn=ROLE_ARN
        )["stateMachineArn"]
        batch = boto3.client("batch", region_name=REGION)
        queue = create_job_queue(batch, "trials")
        executions = ScanExecutions(arn, stepfunctions=sfn, batch=batch, job_queue=queue)
        service = ScanService(SQLiteTrialStore(tmp_path / "scans.db"), lifecycle=executions)
        yield service, executions


def test_a_remote_scan_starts_its_execution_when_created(
    cloud_service: tuple[ScanService, ScanExecutions],
) -> None:
    service, executions = cloud_service
    scan, _ = service.create_scan("s", remote(), owner=OWNER, client_token="k1")
    again, created = service.create_scan("s", remote(), owner=OWNER, client_token="k1")
    agents, _ = service.create_scan("a", remote() | {"execution": {}}, owner=OWNER)
    assert not created and again.scan_id == scan.scan_id
    assert len(executions.running(scan.scan_id)) == 1  # the retried create started nothing
    assert executions.running(agents.scan_id) == []


def test_extending_a_completed_remote_scan_starts_it_again(
    cloud_service: tuple[ScanService, ScanExecutions],
) -> None:
    service, executions = cloud_service
    scan, _ = service.create_scan("s", remote(max_run=1), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert trial is not None
    service.complete(trial.trial_id, 1.0, owner=OWNER)
    assert service.store.get_scan(scan.scan_id).status is ScanStatus.COMPLETED
    service.extend(scan.scan_id, 2, owner=OWNER)
    assert len(executions.running(scan.scan_id)) == 2
    service.extend(scan.scan_id, 3, owner=OWNER)  # still running: nothing more to start
    assert len(executions.running(scan.scan_id)) == 2


def _completed_remote_scan(service: ScanService) -> str:
    scan, _ = service.create_scan("s", remote(max_run=1), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert trial is not None
    service.complete(trial.trial_id, 1.0, owner=OWNER)
    assert service.store.get_scan(scan.scan_id).status is ScanStatus.COMPLETED
    return scan.scan_id


def test_every_way_of_reopening_a_completed_remote_scan_starts_it_again(
    cloud_service: tuple[ScanService, ScanExecutions],
) -> None:
    service, executions = cloud_service
    reopen_by = {
        "a trial added": lambda scan_id: service.add_trial(scan_id, {"x": 3}, owner=OWNER),
        "seed runs": lambda scan_id: service.gather_seeds(scan_id, 2, owner=OWNER),
        "marked running": lambda scan_id: service.set_status(
            scan_id, ScanStatus.RUNNING, owner=OWNER
        ),
    }
    for how, reopen in reopen_by.items():
        scan_id = _completed_remote_scan(service)
        before = len(executions.running(scan_id))
        reopen(scan_id)
        assert service.store.get_scan(scan_id).status is ScanStatus.RUNNING, how
        assert len(executions.running(scan_id)) == before + 1, how


def test_deleting_a_remote_scan_stops_its_executions(
    cloud_service: tuple[ScanService, ScanExecutions],
) -> None:
    service, executions = cloud_service
    scan, _ = service.create_scan("s", remote(), owner=OWNER)
    assert len(executions.running(scan.scan_id)) == 1
    service.delete_scan(scan.scan_id, owner=OWNER)
    assert executions.running(scan.scan_id) == []


def test_cancelling_a_remote_scan_stops_its_executions_and_terminates_its_jobs(
    cloud_service: tuple[ScanService, ScanExecutions], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, executions = cloud_service
    scan, _ = service.create_scan("s", remote(), owner=OWNER)
    other, _ = service.create_scan("t", remote(), owner=OWNER)

    def runner(run: JobAttemptRun) -> AttemptEnd:
        run.stopped.wait(10)
        return AttemptEnd(143)

    batch = boto3.client("batch", region_name=REGION)
    queue = batch.describe_job_queues()["jobQueues"][0]["jobQueueArn"]
    definition = batch.register_job_definition(
        jobDefinitionName="worker",
        type="container",
        containerProperties={"image": "w", "command": ["w"], "memory": 512, "vcpus": 1},
    )["jobDefinitionArn"]
    with batch_jobs(monkeypatch, runner):
        names = (f"{scan.scan_id}-aaaa", f"{scan.scan_id}-bbbb", f"{other.scan_id}-cccc")
        jobs = {
            name: batch.submit_job(jobName=name, jobQueue=queue, jobDefinition=definition)["jobId"]
            for name in names
        }
        service.cancel(scan.scan_id, owner=OWNER)
        assert executions.running(scan.scan_id) == []
        assert len(executions.running(other.scan_id)) == 1
        for name, job_id in jobs.items():
            wait_for_stop = name.startswith(scan.scan_id)
            (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
            while wait_for_stop and job["status"] != "FAILED":
                (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
            assert (job["status"] == "FAILED") is wait_for_stop, name
            assert job.get("statusReason") == ("scan cancelled" if wait_for_stop else None)
        service.cancel(other.scan_id, owner=OWNER)


def test_cancel_terminates_the_scans_jobs_in_the_spot_and_the_on_demand_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):  # type: ignore[arg-type]
        boto3.client("iam").create_role(
            RoleName=ROLE_ARN.rsplit("/", 1)[1], AssumeRolePolicyDocument="{}"
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="scanfleet-scans", definition=json.dumps(MACHINE), roleArn=ROLE_ARN
        )["stateMachineArn"]
        batch = boto3.client("batch", region_name=REGION)
        spot, on_demand = create_job_queue(batch, "spot"), create_job_queue(batch, "on-demand")
        executions = ScanExecutions(
            arn, stepfunctions=sfn, batch=batch, job_queue=spot, on_demand_queue=on_demand
        )
        service = ScanService(SQLiteTrialStore(tmp_path / "scans.db"), lifecycle=executions)
        scan, _ = service.create_scan("s", remote(), owner=OWNER)
        definition = batch.register_job_definition(
            jobDefinitionName="worker",
            type="container",
            containerProperties={"image": "w", "command": ["w"], "memory": 512, "vcpus": 1},
        )["jobDefinitionArn"]

        def runner(run: JobAttemptRun) -> AttemptEnd:
            run.stopped.wait(10)
            return AttemptEnd(143)

        with batch_jobs(monkeypatch, runner):
            jobs = [
                batch.submit_job(
                    jobName=f"{scan.scan_id}-{n}", jobQueue=queue, jobDefinition=definition
                )["jobId"]
                for n, queue in (("aaaa", spot), ("bbbb", on_demand))
            ]
            service.cancel(scan.scan_id, owner=OWNER)
            for job_id in jobs:
                (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
                while job["status"] != "FAILED":
                    (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
                assert job["statusReason"] == "scan cancelled"
