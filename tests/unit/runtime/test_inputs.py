"""Run inputs: what a scan takes from the machine that creates it, and what a worker makes
ready before its first trial (script, requirements, base_model, dataset), once."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from scanfleet import names
from scanfleet.artifacts import LocalInputStore, S3InputStore
from scanfleet.config import ConfigError, load_config
from scanfleet.runtime.inputs import (
    InputError,
    InputUnavailableError,
    local_inputs,
    prepare,
    unsatisfied,
)
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

from tests.conftest import moto_s3
from tests.unit.runtime.tiny_wheel import build_wheel

BASE = {
    "strategy": "grid",
    "metric": {"name": "loss"},
    "parameters": {"x": {"values": [1, 2]}},
}


def config_file(folder: Path, **extra: Any) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan.yaml"
    path.write_text(yaml.safe_dump({**BASE, **extra}))
    return path


@pytest.fixture
def s3() -> Iterator[Any]:
    with moto_s3("inputs") as client:
        yield client


@pytest.fixture
def offline_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip sees only a folder holding tinypkg 1.0: no index, no network."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return wheels


# ---- when the scan is created --------------------------------------------------------------


def test_a_script_beside_the_config_is_read_and_a_missing_one_left_as_a_worker_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "train.py").write_text("print('hi')\n")
    config, content = local_inputs(load_config(config_file(tmp_path / "proj", script="train.py")))
    assert content == "print('hi')\n" and config.script == "train.py"
    elsewhere = load_config(config_file(tmp_path / "other", script="/opt/app/train.py"))
    assert local_inputs(elsewhere) == (elsewhere, None)


def test_a_requirements_file_is_sent_as_its_list(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# pinned\ntinypkg==1.0\nnumpy>=1.20\n")
    config, _ = local_inputs(load_config(config_file(tmp_path, requirements="requirements.txt")))
    assert config.requirement_specs() == ["tinypkg==1.0", "numpy>=1.20"]
    dumped = config.model_dump(mode="json", exclude_unset=True)["requirements"]
    assert dumped == [
        {"package": "tinypkg", "version": "1.0"},
        {"package": "numpy", "version": ">=1.20"},
    ]
    with pytest.raises(ConfigError) as err:
        local_inputs(load_config(config_file(tmp_path / "x", requirements="nope.txt")))
    assert err.value.problems[0].path == "requirements"


# ---- the stores of uploaded scripts ------------------------------------------------------------


def test_a_script_uploaded_to_s3_is_what_the_worker_runs(s3: Any, tmp_path: Path) -> None:
    service = ScanService(
        SQLiteTrialStore(tmp_path / "db.sqlite"), inputs=S3InputStore("inputs", client=s3)
    )
    scan, _ = service.create_scan(
        "s3", {**BASE, "script": "train.py"}, owner="me", script_content="print('stored')\n"
    )
    uri = scan.config["script"]
    assert uri == f"s3://inputs/inputs/{scan.scan_id}/train.py"
    staged = prepare(load_config(scan.config), tmp_path / "cache", s3_client=s3)
    assert Path(staged.config.script or "").read_text() == "print('stored')\n"
    service.delete_scan(scan.scan_id, owner="me")
    assert s3.list_objects_v2(Bucket="inputs").get("KeyCount") == 0


def test_a_retried_create_keeps_the_first_copy_only(tmp_path: Path) -> None:
    service = ScanService(
        SQLiteTrialStore(tmp_path / "db.sqlite"), inputs=LocalInputStore(tmp_path / "inputs")
    )
    config = {**BASE, "script": "train.py"}
    first, _ = service.create_scan("a", config, owner="me", client_token="t", script_content="1")
    again, created = service.create_scan(
        "a", config, owner="me", client_token="t", script_content="1"
    )
    assert not created and again.scan_id == first.scan_id
    assert [p.name for p in (tmp_path / "inputs").iterdir()] == [first.scan_id]


# ---- on a worker ----------------------------------------------------------------------------


def test_local_artifacts_are_given_by_path_and_a_missing_one_names_its_field(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "model.bin").write_bytes(b"weights")
    config = load_config(
        {**BASE, "dataset": str(tmp_path / "data"), "base_model": str(tmp_path / "model.bin")}
    )
    env = prepare(config, tmp_path / "cache").env
    assert env[names.ENV_DATASET] == str(tmp_path / "data")
    assert env[names.ENV_BASE_MODEL] == str(tmp_path / "model.bin")
    missing = load_config({**BASE, "dataset": str(tmp_path / "nowhere")})
    with pytest.raises(InputError, match=r"^dataset: no such file or folder"):
        prepare(missing, tmp_path / "cache")


def test_s3_artifacts_are_downloaded_once_per_worker(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket="inputs", Key="models/ssd.bin", Body=b"weights")
    for name in ("a.csv", "sub/b.csv"):
        s3.put_object(Bucket="inputs", Key=f"datasets/first/{name}", Body=name.encode())
    config = load_config(
        {
            **BASE,
            "base_model": "s3://inputs/models/ssd.bin",
            "dataset": "s3://inputs/datasets/first",
        }
    )
    env = prepare(config, tmp_path / "cache", s3_client=s3).env
    model, data = Path(env[names.ENV_BASE_MODEL]), Path(env[names.ENV_DATASET])
    assert model.read_bytes() == b"weights" and model.name == "ssd.bin"
    assert (data / "a.csv").read_text() == "a.csv" and (data / "sub" / "b.csv").is_file()
    for key in ("models/ssd.bin", "datasets/first/a.csv", "datasets/first/sub/b.csv"):
        s3.delete_object(Bucket="inputs", Key=key)
    assert prepare(config, tmp_path / "cache", s3_client=s3).env == env  # from the cache
    empty = load_config({**BASE, "dataset": "s3://inputs/datasets/none/"})
    with pytest.raises(InputError, match="^dataset: nothing at s3://inputs/datasets/none/"):
        prepare(empty, tmp_path / "cache", s3_client=s3)


def test_requirements_are_installed_once_and_importable_by_trials(
    offline_pip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config({**BASE, "requirements": ["tinypkg==1.0"]})
    results: list[dict[str, str]] = []
    workers = [
        threading.Thread(target=lambda: results.append(prepare(config, tmp_path / "c").env))
        for _ in range(2)
    ]
    for w in workers:  # two workers of one machine at once: one installs, one waits
        w.start()
    for w in workers:
        w.join()
    assert results[0] == results[1]
    env = {**os.environ, **results[0]}
    out = subprocess.run(
        [sys.executable, "-c", "import tinypkg; print(tinypkg.VALUE)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "42"
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))  # pip would fail now
    assert prepare(config, tmp_path / "c").env == results[0]


def test_a_requirement_pip_cannot_install_names_the_field(
    offline_pip: Path, tmp_path: Path
) -> None:
    config = load_config({**BASE, "requirements": ["tinypkg==9.9"]})
    with pytest.raises(InputError, match="^requirements: pip could not install tinypkg==9.9"):
        prepare(config, tmp_path / "c")
    left = [p.name for p in (tmp_path / "c" / "requirements").iterdir()]
    assert all(name.endswith(".lock") for name in left)  # no half-done install left behind


def test_requirements_the_environment_meets_already_install_nothing(tmp_path: Path) -> None:
    met = load_config({**BASE, "requirements": ["pyyaml>=6", {"package": "pydantic"}]})
    assert prepare(met, tmp_path / "c").env == {}
    assert unsatisfied(["pyyaml>=6", "pyyaml<1", "surely-not-installed-pkg"]) == [
        "pyyaml<1",
        "surely-not-installed-pkg",
    ]


# ---- which failures are worth another try ----------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def s3_answering(status: int, code: str) -> Iterator[str]:
    """An S3 endpoint on loopback that answers every request with this error."""
    body = f"<Error><Code>{code}</Code><Message>said the fake</Message></Error>".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def s3_client(endpoint: str) -> Any:
    once = BotoConfig(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2)
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=once)


DATASET = load_config({**BASE, "dataset": "s3://inputs/datasets/first"})


@pytest.mark.parametrize(
    "status, code, unavailable",
    [(503, "SlowDown", True), (500, "InternalError", True), (403, "AccessDenied", False),
     (404, "NoSuchBucket", False)],
)  # fmt: skip
def test_s3_errors_are_worth_a_retry_only_when_they_say_not_now(
    tmp_path: Path, status: int, code: str, unavailable: bool
) -> None:
    with s3_answering(status, code) as endpoint, pytest.raises(InputError) as caught:
        prepare(DATASET, tmp_path / "cache", s3_client=s3_client(endpoint))
    assert isinstance(caught.value, InputUnavailableError) is unavailable
    assert str(caught.value).startswith(f"dataset: s3://inputs/datasets/first: {code}")


def test_an_s3_endpoint_that_does_not_answer_is_worth_a_retry(tmp_path: Path) -> None:
    client = s3_client(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(InputUnavailableError, match="^dataset: s3://inputs/datasets/first: "):
        prepare(DATASET, tmp_path / "cache", s3_client=client)


def test_a_missing_s3_object_is_not_worth_a_retry(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing at") as caught:
        prepare(DATASET, tmp_path / "cache", s3_client=s3)
    assert not isinstance(caught.value, InputUnavailableError)


def test_a_package_index_that_does_not_answer_is_worth_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port()}/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip tells of an unreachable index only when it retries
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    config = load_config({**BASE, "requirements": ["tinypkg==1.0"]})
    with pytest.raises(InputUnavailableError, match="^requirements: pip could not install"):
        prepare(config, tmp_path / "c")


def test_a_requirement_no_index_has_is_not_worth_a_retry(offline_pip: Path, tmp_path: Path) -> None:
    config = load_config({**BASE, "requirements": ["tinypkg==9.9"]})
    with pytest.raises(InputError) as caught:
        prepare(config, tmp_path / "c")
    assert not isinstance(caught.value, InputUnavailableError)
