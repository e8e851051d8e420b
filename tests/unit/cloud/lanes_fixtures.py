"""A ScanService over SQLite and ScanExecutions over moto's Step Functions (executions are
recorded, not run), shared by the lane tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from scanfleet.cloud import (
    ExecutionInput,
    Lane,
    LaneTasks,
    ScanExecutions,
    execution_name,
    new_run_id,
)
from scanfleet.records import ScanRecord
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

REGION = "us-east-1"
OWNER = "tok-owner"
MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


def remote(max_worker: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "strategy": "grid",
        "command": "python train.py",
        "metric": {"name": "loss"},
        "execution": {"type": "remote", "max_worker": max_worker, "lease_seconds": 30},
        "parameters": {"x": {"values": [1, 2, 3]}},
        **extra,
    }


@dataclass
class World:
    service: ScanService
    executions: ScanExecutions
    tasks: LaneTasks
    sfn: Any

    def scan(self, config: dict[str, Any] | None = None) -> ScanRecord:
        scan, _ = self.service.create_scan("s", config or remote(), owner=OWNER)
        return scan

    def lane(self, scan: ScanRecord, lane: int = 0, **fields: Any) -> Lane:
        values: dict[str, Any] = {
            "scan_id": scan.scan_id,
            "owner": OWNER,
            "run": "r1",
            "generation": 0,
            "lane": lane,
            "budget": 24_000,
            "state_machine": self.executions.state_machine_arn,
            "execution": f"{scan.scan_id}-r1-0-0",
        }
        return Lane.model_validate({**values, **fields})

    def start_execution(self, scan: ScanRecord) -> str:
        """An execution of the scan started straight through Step Functions (the history
        a test needs, whatever the scan's execution type)."""
        inp = ExecutionInput(scan_id=scan.scan_id, owner=OWNER, run=new_run_id())
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.executions.state_machine_arn,
                name=execution_name(scan.scan_id, inp.run, 0, 0),
                input=inp.model_dump_json(),
            )["executionArn"]
        )

    def started(self) -> list[ExecutionInput]:
        """Inputs of the executions started so far, oldest first."""
        listed = self.sfn.list_executions(stateMachineArn=self.executions.state_machine_arn)
        out = []
        for execution in reversed(listed["executions"]):
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            out.append(ExecutionInput.model_validate(json.loads(described["input"])))
        return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="scanfleet-scans",
            definition=json.dumps(MACHINE),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        service = ScanService(SQLiteTrialStore(tmp_path / "scans.db"))
        executions = ScanExecutions(arn, stepfunctions=sfn)
        yield World(service, executions, LaneTasks(service, executions), sfn)
