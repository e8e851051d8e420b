"""Every function of ours: Python 3.12, traced, its handler importable from the asset, its
logs kept as configured, the dependencies layer attached."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
from pathlib import Path

from scanfleet import names
from scanfleet.service import S3InputStore

from infra.data import CHECKPOINT_PREFIX, INPUTS_PREFIX
from tests.infra.synth import Synthesised


def _our_functions(synthesised: Synthesised) -> dict[str, dict]:
    return {
        k: r["Properties"]
        for k, r in synthesised.resources("AWS::Lambda::Function").items()
        if r["Properties"]["Handler"].startswith("lambdas.")
    }


def test_every_function_runs_python_312_traced_with_the_layer(synthesised: Synthesised):
    functions = _our_functions(synthesised)
    assert len(functions) >= 4  # api, authorizer, reaper + the orchestration tasks
    for props in functions.values():
        assert props["Runtime"] == "python3.12"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert len(props["Layers"]) == 1
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == names.METRICS_SERVICE
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == names.METRICS_NAMESPACE
        assert {names.ENV_TABLE_NAME, names.ENV_BUCKET_NAME} <= set(env)


def test_every_handler_names_a_function_in_lambdas(synthesised: Synthesised):
    for props in _our_functions(synthesised).values():
        module, _, function = props["Handler"].rpartition(".")
        source = importlib.util.find_spec(module)
        assert source is not None and source.origin is not None, module
        tree = ast.parse(Path(source.origin).read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}  # fmt: skip
        assert function in defined, props["Handler"]


def test_code_asset_holds_scanfleet_and_lambdas_without_caches(synthesised: Synthesised):
    props = next(iter(_our_functions(synthesised).values()))
    asset_hash = props["Code"]["S3Key"].split(".")[0]
    folder = synthesised.outdir / f"asset.{asset_hash}"
    assert (folder / "lambdas" / "api.py").is_file()
    assert (folder / "scanfleet" / "names.py").is_file()
    assert (folder / "scanfleet" / "store" / "dynamodb_layout.py").is_file()
    assert not list(folder.rglob("__pycache__"))
    assert not (folder / "sdk").exists()  # imported as `scanfleet`, as the handlers do


def test_log_groups_keep_logs_for_the_configured_days(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    for synth, days in ((synthesised, 30), (synthesised_alt, 7)):
        groups = synth.resources("AWS::Logs::LogGroup").values()
        assert {g["Properties"]["RetentionInDays"] for g in groups} == {days}
    for props in _our_functions(synthesised).values():
        assert "LoggingConfig" in props  # an explicit group, not the implicit one


def test_s3_access_is_by_prefix(synthesised: Synthesised):
    """The API writes inputs/ and checkpoints/ (an agent's claim of a PBT child copies its
    parent's checkpoint), trial containers write checkpoints/ and read inputs/."""
    resources_by_role: dict[str, set[str]] = {}
    for policy in synthesised.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            if not any(
                a.startswith("s3:") for a in ([actions] if isinstance(actions, str) else actions)
            ):
                continue
            for role in policy["Properties"]["Roles"]:
                text = json.dumps(statement["Resource"])
                resources_by_role.setdefault(role["Ref"], set()).update(
                    p for p in (INPUTS_PREFIX, CHECKPOINT_PREFIX) if f"/{p}*" in text
                )
    by_prefix = {k: v for k, v in resources_by_role.items() if v}
    assert sorted(map(sorted, by_prefix.values())) == [
        [CHECKPOINT_PREFIX, INPUTS_PREFIX],  # the job role
        [CHECKPOINT_PREFIX, INPUTS_PREFIX],  # the API function
        [CHECKPOINT_PREFIX, INPUTS_PREFIX],  # the EC2 agents' role (infra/agents.py)
    ]
    assert inspect.signature(S3InputStore).parameters["prefix"].default == INPUTS_PREFIX


def test_api_function_may_start_and_stop_scan_executions(synthesised: Synthesised):
    functions = synthesised.resources("AWS::Lambda::Function")
    [api_id] = [
        k for k, p in _our_functions(synthesised).items() if p["Handler"] == "lambdas.api.handler"
    ]
    env = functions[api_id]["Properties"]["Environment"]["Variables"]
    assert names.ENV_STATE_MACHINE_ARN in env and names.ENV_JOB_QUEUE in env
    role = functions[api_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    actions = set()
    for policy in synthesised.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                found = statement["Action"]
                actions.update([found] if isinstance(found, str) else found)
    assert {"states:StartExecution", "states:StopExecution", "batch:TerminateJob"} <= actions
    assert "dynamodb:PutItem" in actions
    assert "s3:PutObject" in actions  # scripts uploaded with a scan (inputs/ only: below)
    assert json.dumps(env)  # plain JSON (no unresolved Python objects)


def test_api_authorizer_and_reaper_cold_start_without_optuna():
    """optuna (with numpy and SQLAlchemy, ~0.3 s) is for the claim path only."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        names.ENV_TABLE_NAME: "t",
        names.ENV_TOKEN_SECRET: "s",
        names.ENV_STATE_MACHINE_ARN: "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    }
    code = (
        "import sys, lambdas.api, lambdas.authorizer, lambdas.reaper; "
        "print(sorted({'optuna', 'numpy', 'sqlalchemy'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
