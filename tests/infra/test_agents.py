"""The deployment carries scanfleet's own wheel: built at synth (reproducibly, offline),
uploaded as a file asset, named with its sha256 in the ``WorkerWheel`` output, and readable
by the agents' instance role (that one object only)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from scanfleet.runtime.user_data import WheelRef

from infra.worker_wheel import build_wheel, metadata_text, project_metadata
from tests.infra.synth import Synthesised


def test_the_wheel_is_reproducible_and_installable_metadata(tmp_path: Path):
    first, second = build_wheel(tmp_path / "a"), build_wheel(tmp_path / "b")
    assert first.sha256 == second.sha256  # same sources, same bytes: same template
    assert first.filename == "scanfleet-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(first.path) as wheel:
        names = wheel.namelist()
        record = wheel.read("scanfleet-0.1.0.dist-info/RECORD").decode()
        entry_points = wheel.read("scanfleet-0.1.0.dist-info/entry_points.txt").decode()
    assert "scanfleet/cli/__init__.py" in names and "scanfleet/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {line.split(",")[0] for line in record.splitlines()} == set(names)
    assert "scanfleet = scanfleet.cli:main" in entry_points
    metadata = metadata_text(project_metadata())
    assert "Requires-Dist: pydantic>=2.7,<3\n" in metadata
    assert 'Requires-Dist: optuna>=5.0,<6; extra == "server"\n' in metadata


def test_the_worker_wheel_output_names_the_uploaded_file_and_its_sha256(
    synthesised: Synthesised,
):
    output = synthesised.template["Outputs"]["WorkerWheel"]["Value"]["Fn::Join"][1]
    assert output[0] == "s3://"
    assert output[1] == {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}
    key, _, digest = output[2].lstrip("/").partition("#sha256=")
    ref = WheelRef.parse(f"s3://bucket/{key}#sha256={digest}")  # what user-data accepts
    [manifest] = synthesised.outdir.glob("*.assets.json")
    files = json.loads(manifest.read_text())["files"].values()
    [wheel] = [
        f for f in files if key in [d["objectKey"] for d in f["destinations"].values()]
    ]  # fmt: skip
    uploaded = synthesised.outdir / wheel["source"]["path"]
    assert wheel["source"]["packaging"] == "file" and uploaded.suffix == ".whl"
    assert hashlib.sha256(uploaded.read_bytes()).hexdigest() == ref.sha256


def test_agents_get_an_instance_profile_that_may_read_the_wheel_and_call_the_api(
    synthesised: Synthesised,
):
    [(role_id, role)] = [
        (k, r) for k, r in synthesised.resources("AWS::IAM::Role").items() if k.startswith("Agents")
    ]
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    profiles = synthesised.resources("AWS::IAM::InstanceProfile").values()  # Batch's too
    assert [{"Ref": role_id}] in [p["Properties"]["Roles"] for p in profiles]
    [policy] = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesised.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    wheel_key = synthesised.template["Outputs"]["WorkerWheel"]["Value"]["Fn::Join"][1][2]
    key = wheel_key.lstrip("/").split("#")[0]
    [read] = [s for s in policy if s["Action"] == "s3:GetObject"]
    assert read["Resource"]["Fn::Join"][1][-1] == f"/{key}"  # that object, not the bucket
    assert any(s["Action"] == "execute-api:Invoke" for s in policy)
    assert "AgentInstanceProfileName" in synthesised.template["Outputs"]
