"""``scanfleet worker user-data``: a user-data script whose systemd unit runs the agent
loop, comes back after reboots and stays down once the scan is finished."""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
from typing import Any

import pytest
from scanfleet import names
from scanfleet.cli import build_parser, main

CONFIG = {
    "strategy": "grid",
    "command": "python train.py",
    "metric": {"name": "loss"},
    "requirements": ["torch==2.3.1", "numpy"],
    "parameters": {"a": {"values": [1]}},
}


WHEEL = "s3://cdk-assets-bucket/0123abcd.whl#sha256=" + "ab" * 32


def heredoc(script: str, tag: str) -> str:
    match = re.search(rf"<<'{tag}'\n(.*?){tag}\n", script, re.S)
    assert match, f"no {tag} heredoc"
    return match.group(1)


def user_data(local_api: Any, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    from scanfleet.client import Client

    token = local_api.tokens.default_token
    scan = Client(url=local_api.url, token=token).create_scan("ud", CONFIG)
    argv = ["worker", "user-data", "--scan", scan.id, "--url", local_api.url, "--token", token]
    if "--package" not in extra:
        argv += ["--wheel", WHEEL]
    assert main([*argv, *extra]) == 0
    return capsys.readouterr().out.replace(scan.id, "SCAN")


def test_the_script_is_valid_bash_that_installs_scanfleet_and_the_scans_requirements(
    local_api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    script = user_data(local_api, capsys, "--setup", "git clone https://example.invalid/r .")
    assert script.startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert 'pip install "${wheel}[server]" torch==2.3.1 numpy' in script
    assert script.index("git clone") < script.index("systemctl enable --now")


def test_the_unit_restarts_the_agent_loop_except_when_the_scan_is_done(
    local_api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(heredoc(user_data(local_api, capsys), "SCANFLEET_UNIT"))
    service = unit["Service"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"  # enabled: back after reboot
    assert service["Restart"] == "on-failure"  # the agent exits 0 only when the scan is over
    assert service["KillMode"] == "mixed"  # SIGTERM to the agent alone: it checkpoints
    assert int(service["TimeoutStopSec"]) < 120  # inside a Spot notice
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/bin/scanfleet")
    args = build_parser().parse_args(argv[1:])
    assert args.handler.__name__ == "cmd_worker" and args.scan == "SCAN"
    assert "ExecStopPost" not in service


def test_the_environment_signs_with_the_instance_role_unless_told_otherwise(
    local_api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    env = heredoc(user_data(local_api, capsys, "--region", "eu-west-1"), "SCANFLEET_ENV")
    values = dict(line.split("=", 1) for line in env.splitlines())
    assert values[names.ENV_AUTH] == "iam" and values["AWS_REGION"] == "eu-west-1"
    assert values[names.ENV_API_URL] == local_api.url and names.ENV_TOKEN not in values
    script = user_data(local_api, capsys, "--auth", "token", "--shutdown-when-done")
    assert f"{names.ENV_TOKEN}={local_api.tokens.default_token}" in script
    assert "ExecStopPost=" in script and "$$EXIT_STATUS" in script


def test_worker_without_a_scan_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--url", "http://127.0.0.1:1"]) == 2
    assert "--scan is required" in capsys.readouterr().err
