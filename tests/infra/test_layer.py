"""The dependencies layer: what goes in it, how it is built (not run here: it needs PyPI),
and what the synth does with and without it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scanfleet.cli._deploy import FLAG_CONTEXT

from infra.build_layer import RUNTIME_PROVIDED, pip_command, prune, requirements, write_marker
from tests.infra.synth import Synthesised

ROOT = Path(__file__).resolve().parents[2]


def test_requirements_are_the_server_extra_without_what_lambda_has_or_never_imports():
    reqs = requirements()
    names = {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0] for r in reqs}
    assert {"pydantic", "pyyaml", "optuna", "aws-lambda-powertools"} <= names
    assert not names & {"boto3", "rich", "plotly"}
    assert "aws-lambda-powertools[tracer]" in reqs


def test_pip_installs_linux_wheels_for_python_312_only(tmp_path: Path):
    command = pip_command(tmp_path, ["optuna"])
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    for flag, value in (
        ("--platform", "manylinux2014_x86_64"),
        ("--python-version", "3.12"),
        ("--implementation", "cp"),
        ("--target", str(tmp_path)),
    ):
        assert command[command.index(flag) + 1] == value
    assert "--only-binary=:all:" in command and command[-1] == "optuna"


def test_prune_drops_the_runtime_packages_and_byte_code(tmp_path: Path):
    for name in (*RUNTIME_PROVIDED, "optuna"):
        (tmp_path / name).mkdir()
        (tmp_path / f"{name}-1.0.dist-info").mkdir()
    (tmp_path / "six.py").write_text("")
    (tmp_path / "optuna" / "__pycache__").mkdir()
    (tmp_path / "bin").mkdir()
    prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optuna", "optuna-1.0.dist-info"]
    assert not (tmp_path / "optuna" / "__pycache__").exists()


def test_a_built_layer_is_attached_without_warning(synthesised: Synthesised):
    layer = synthesised.one("AWS::Lambda::LayerVersion")["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.12"]
    asset = synthesised.outdir / f"asset.{layer['Content']['S3Key'].split('.')[0]}"
    assert (asset / "python" / "stand_in.py").is_file()
    assert not [w for w in synthesised.warnings() if "not built" in w]


def test_without_a_built_layer_the_synth_stops_and_says_how_to_build_it(tmp_path: Path):
    import aws_cdk as cdk

    from infra.app import build_app
    from infra.lambdas import LayerNotBuiltError

    empty = tmp_path / "lambda-layer"  # what the old placeholder was: a folder, no marker
    (empty / "python").mkdir(parents=True)
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    with pytest.raises(LayerNotBuiltError, match=r"is not built.*python -m infra\.build_layer"):
        build_app(app, env={}, layer_dir=empty)


def test_a_layer_built_for_other_requirements_stops_the_synth(tmp_path: Path):
    import aws_cdk as cdk

    from infra.app import build_app
    from infra.lambdas import LayerNotBuiltError

    stale = tmp_path / "lambda-layer"
    (stale / "python").mkdir(parents=True)
    write_marker(stale, [*requirements()[1:], "optuna<3"])  # pyproject changed since
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    with pytest.raises(LayerNotBuiltError, match=r"other requirements.*optuna<3"):
        build_app(app, env={}, layer_dir=stale)


def test_app_py_prints_the_message_not_a_traceback(tmp_path: Path):
    """``cdk synth``/``cdk deploy`` run app.py: without a layer it exits 1 with one line."""
    checkout = tmp_path / "checkout"  # a checkout whose build/ holds no layer
    checkout.mkdir()
    shutil.copytree(ROOT / "infra", checkout / "infra", ignore=shutil.ignore_patterns("__py*"))
    for name in ("app.py", "pyproject.toml", ".dockerignore"):
        shutil.copy(ROOT / name, checkout / name)
    for name in ("sdk", "lambdas"):  # read, never resolved to find build/
        (checkout / name).symlink_to(ROOT / name)
    done = subprocess.run(
        [sys.executable, str(checkout / "app.py")],
        cwd=checkout, capture_output=True, text=True, timeout=240,
        env={**os.environ, "CDK_OUTDIR": str(tmp_path / "cdk.out")},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.startswith("error: the Lambda dependencies layer ")
    assert "python -m infra.build_layer" in done.stderr and "Traceback" not in done.stderr


def test_plain_cdk_and_scanfleet_deploy_run_the_same_app_with_the_same_layer():
    """`npx cdk deploy` runs cdk.json's app; `scanfleet deploy` builds the layer into the
    folder that app reads, then runs the same app.py with the app's default context."""
    import argparse
    import inspect

    from scanfleet.cli._deploy import plan_deploy

    from infra.app import build_app
    from infra.build_layer import build

    assert json.loads((ROOT / "cdk.json").read_text())["app"].split()[-1] == "app.py"
    args = argparse.Namespace(
        project=ROOT, stack_name="scanfleet", profile=None, region=None, yes=False,
        skip_layer=False, context=[], **{dest: None for dest in FLAG_CONTEXT},
    )  # fmt: skip
    plan = plan_deploy(args)
    layer_build, deploy = plan.commands
    assert layer_build[1:] == ["-m", "infra.build_layer"]  # into its default folder...
    read = inspect.signature(build_app).parameters["layer_dir"].default
    assert inspect.signature(build).parameters["out"].default == read  # ...which the app reads
    assert deploy[deploy.index("--app") + 1].endswith(" app.py")
    assert plan.context == {"stackName": "scanfleet"}  # the app's defaults, nothing else
