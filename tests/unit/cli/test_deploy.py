"""``scanfleet deploy`` builds the right commands from its flags, refuses bad settings
before building anything, and runs the commands in order (here against a stand-in ``npx``
that records its arguments: nothing reaches AWS)."""

from __future__ import annotations

import shutil
import stat
import sys
from pathlib import Path

import pytest
from scanfleet.cli import build_parser, main
from scanfleet.cli._deploy import FLAG_CONTEXT, plan_deploy

from infra.settings import CONTEXT

ROOT = Path(__file__).resolve().parents[3]


def _plan(*argv: str):
    return plan_deploy(build_parser().parse_args(["deploy", "--project", str(ROOT), *argv]))


def test_flags_become_context_of_cdk_deploy_after_the_layer_build():
    plan = _plan(
        "--instance-types", "g5.xlarge,g4dn.xlarge", "--max-vcpus", "64", "--on-demand-fallback",
        "--auth", "token", "--vpc-id", "vpc-0abc", "-c", "jobAttempts=3", "--profile", "ml",
    )  # fmt: skip
    layer, cdk = plan.commands
    assert layer == [sys.executable, "-m", "infra.build_layer"]
    assert cdk == [
        "npx", "--no-install", "cdk", "deploy", "scanfleet",
        "--app", f"{sys.executable} app.py",
        "-c", "stackName=scanfleet",
        "-c", "gpuInstanceTypes=g5.xlarge,g4dn.xlarge",
        "-c", "maxVcpus=64",
        "-c", "onDemandFallback=true",
        "-c", "vpcId=vpc-0abc",
        "-c", "authMode=token",
        "-c", "jobAttempts=3",
        "--require-approval", "broadening",
        "--profile", "ml",
    ]  # fmt: skip
    assert plan.project == ROOT


def test_defaults_pass_no_settings_and_yes_skips_approval():
    plan = _plan("--skip-layer", "--yes", "--region", "eu-west-1", "--stack-name", "sf-dev")
    [cdk] = plan.commands
    assert cdk[4] == "sf-dev" and cdk[7:9] == ["-c", "stackName=sf-dev"]
    assert [a for a in cdk if a.startswith("-c")] == ["-c"]
    assert cdk[-2:] == ["--require-approval", "never"]
    assert plan.env["AWS_REGION"] == plan.env["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_every_flag_maps_to_a_context_key_of_the_stack():
    assert set(FLAG_CONTEXT.values()) <= {key.name for key in CONTEXT}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c", "maxVcpus=lots"], "error: context maxVcpus: expected a whole number, got 'lots'"),
        (["--max-vcpus", "0"], "error: context maxVcpus: must be at least 1, got 0"),
        (["-c", "maxCpus=8"], "error: unknown context key 'maxCpus'; known: alarmEmail"),
        (["-c", "novalue"], "error: --context 'novalue': expected KEY=VALUE"),
    ],
)
def test_bad_settings_are_refused_with_the_key_before_anything_runs(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
):
    assert main(["deploy", "--project", str(ROOT), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err


def test_outside_a_checkout_says_where_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["deploy", "--project", str(tmp_path), "--dry-run"]) == 2
    assert "is not a scanfleet checkout" in capsys.readouterr().err


def _fake_checkout(tmp_path: Path, npx_exit: int) -> Path:
    project = tmp_path / "checkout"
    (project / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "infra" / "settings.py", project / "infra" / "settings.py")
    shutil.copy(ROOT / "cdk.json", project / "cdk.json")
    (project / "node_modules" / ".bin").mkdir(parents=True)
    (project / "node_modules" / ".bin" / "cdk").write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npx = bin_dir / "npx"
    npx.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/npx-args"\nexit {npx_exit}\n')
    npx.chmod(npx.stat().st_mode | stat.S_IEXEC)
    return project


def test_runs_cdk_deploy_in_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    project = _fake_checkout(tmp_path, npx_exit=0)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert main(["deploy", "--project", str(project), "--skip-layer", "--auth", "iam"]) == 0
    args = (tmp_path / "npx-args").read_text().split()
    assert args[:5] == ["--no-install", "cdk", "deploy", "scanfleet", "--app"]
    assert "authMode=iam" in args


def test_a_failing_cdk_deploy_is_reported_with_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    project = _fake_checkout(tmp_path, npx_exit=3)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    assert main(["deploy", "--project", str(project), "--skip-layer"]) == 3
    assert "`npx --no-install cdk deploy` exited with 3" in capsys.readouterr().err


def test_dry_run_prints_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    project = _fake_checkout(tmp_path, npx_exit=0)
    argv = ["deploy", "--project", str(project), "--dry-run", "--account", "111122223333"]
    assert main([*argv, "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].endswith("-m infra.build_layer") and "npx --no-install cdk deploy" in out[-1]
    assert not (tmp_path / "npx-args").exists()
