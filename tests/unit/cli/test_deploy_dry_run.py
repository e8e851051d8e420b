"""``scanfleet deploy --dry-run`` prints commands a person can paste as they are: the
region (``--region``, ``$AWS_REGION`` or the profile's) in front of each, the account
(``--account``, else STS's answer) in the CDK bootstrap, and a placeholder with a note when
either cannot be known."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from moto import mock_aws
from scanfleet.cli import main

from tests.unit.cli.test_deploy import _fake_checkout


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


def dry_run(project: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["deploy", "--project", str(project), "--dry-run", "--skip-layer", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_the_printed_commands_run_as_pasted_with_the_region_and_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: None
) -> None:
    project = _fake_checkout(tmp_path, npx_exit=0)
    npx = project / "node_modules" / ".bin" / "npx-log"
    (tmp_path / "bin" / "npx").write_text(
        f'#!/bin/sh\necho "$AWS_REGION $AWS_DEFAULT_REGION $(pwd) $*" >> "{npx}"\n'
    )
    lines = dry_run(project, "--region", "eu-west-1", "--account", "111122223333", capsys=capsys)
    assert lines[0] == "# account 111122223333 (--account), region eu-west-1 (--region)"
    assert lines[-1].startswith("AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 ")
    pasted = subprocess.run(
        ["bash", "-e"],
        input="\n".join(lines),
        text=True,
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"},
    )
    assert pasted.returncode == 0, pasted.stderr
    bootstrap, deploy = npx.read_text().splitlines()
    assert bootstrap == (
        f"eu-west-1 eu-west-1 {project} --no-install cdk bootstrap aws://111122223333/eu-west-1"
    )
    assert deploy.startswith(f"eu-west-1 eu-west-1 {project} --no-install cdk deploy scanfleet")


def test_with_no_credentials_the_account_is_a_placeholder_with_a_note(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_credentials: None,
) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    lines = dry_run(_fake_checkout(tmp_path, npx_exit=0), capsys=capsys)
    assert lines[0] == (
        "# account <ACCOUNT> (no AWS credentials found: pass --account or log in), "
        "region ap-south-1 ($AWS_REGION)"
    )
    assert "cdk bootstrap 'aws://<ACCOUNT>/ap-south-1'" in lines[3]
    assert lines[-1].startswith("AWS_REGION=ap-south-1 AWS_DEFAULT_REGION=ap-south-1 ")


def test_with_credentials_the_account_comes_from_sts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # moto's STS answers for these
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        lines = dry_run(
            _fake_checkout(tmp_path, npx_exit=0), "--region", "us-west-2", capsys=capsys
        )
    assert lines[0] == "# account 123456789012 (STS), region us-west-2 (--region)"
    assert "cdk bootstrap aws://123456789012/us-west-2" in lines[3]


def test_an_account_id_that_is_not_12_digits_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _fake_checkout(tmp_path, npx_exit=0)
    assert main(["deploy", "--project", str(project), "--dry-run", "--account", "12ab"]) == 2
    assert capsys.readouterr().err == (
        "error: --account: an AWS account id is 12 digits, got '12ab'\n"
    )
