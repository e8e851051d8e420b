"""The dependencies layer: what goes in it, how it is built (not run here: it needs PyPI),
and what the synth does with and without it."""

from __future__ import annotations

import sys
from pathlib import Path

from infra.build_layer import RUNTIME_PROVIDED, pip_command, prune, requirements
from tests.infra.synth import Synthesised


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


def test_without_a_built_layer_the_synth_works_and_warns(synthesised_alt: Synthesised):
    layer = synthesised_alt.one("AWS::Lambda::LayerVersion")["Properties"]
    asset = synthesised_alt.outdir / f"asset.{layer['Content']['S3Key'].split('.')[0]}"
    assert (asset / "python" / "README.txt").is_file()
    [warning] = [w for w in synthesised_alt.warnings() if "not built" in w]
    assert "python -m infra.build_layer" in warning
