"""The install part of ``scanfleet worker user-data`` run for real: the generated script in
a Debian bookworm root (debootstrap, as tests/image makes it; entered with chroot, so it
shares this machine's loopback), with ``systemctl`` replaced by a recorder, fetching the
deployment's wheel from S3 (moto's server on loopback, fake credentials, as the instance
role would sign) and installing its dependencies from the package index. The worker
command the unit would start is then installed and runs ``--help``; a wheel whose sha256
does not match is refused before anything is installed."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from scanfleet.cli import main
from scanfleet.client import Client

from infra.worker_wheel import BuiltWheel, build_wheel
from tests.image.builder import HOST_CA, bookworm_rootfs

BUCKET = "cdk-hnb659fds-assets-123456789012-us-east-1"  # where a CDK file asset lands
RECORDER = '#!/bin/sh\necho "$*" >> /var/log/systemctl-calls\n'
LOG = "var/log/scanfleet-user-data.log"
CHROOT = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "chroot"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root"),
    pytest.mark.skipif(
        shutil.which("debootstrap") is None, reason="needs debootstrap (make test installs it)"
    ),
    pytest.mark.timeout(1500),
]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def wheel(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> BuiltWheel:
    """The wheel the stack builds, uploaded as the CDK CLI uploads a file asset."""
    built = build_wheel(tmp_path_factory.mktemp("wheel"))
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.upload_file(str(built.path), BUCKET, f"{built.sha256}.whl")
    return built


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """A copy of the cached bookworm root: this machine's CA bundle and DNS, a recorder
    where systemctl would be."""
    base = bookworm_rootfs()
    copy = tmp_path / "root"
    subprocess.run(["cp", "-a", f"{base}/.", str(copy)], check=True, timeout=300)
    shutil.copy(HOST_CA, copy / "etc/ssl/certs/ca-certificates.crt")
    shutil.copy("/etc/resolv.conf", copy / "etc/resolv.conf")
    recorder = copy / "usr/local/bin/systemctl"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    yield copy
    shutil.rmtree(copy, ignore_errors=True)


def user_data(local_api: Any, capsys: pytest.CaptureFixture[str], wheel_url: str) -> str:
    token = local_api.tokens.default_token
    config = {
        "strategy": "grid",
        "command": "python train.py",
        "metric": {"name": "loss"},
        "parameters": {"a": {"values": [1]}},
    }
    scan = Client(url=local_api.url, token=token).create_scan("ec2", config)
    argv = ["worker", "user-data", "--scan", scan.id, "--url", local_api.url, "--token", token,
            "--auth", "token", "--region", "us-east-1", "--wheel", wheel_url]  # fmt: skip
    assert main(argv) == 0
    return capsys.readouterr().out


def run_in(root: Path, script: str, s3_endpoint: str) -> subprocess.CompletedProcess[str]:
    (root / "root/user-data.sh").write_text(script)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        # what the instance role gives on EC2, and S3 on loopback
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        # this machine reaches the package index through its own CA bundle (copied in)
        "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
        "PIP_DEFAULT_TIMEOUT": "120",
    }
    return subprocess.run(
        [CHROOT, str(root), "/bin/bash", "/root/user-data.sh"],
        env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip


def log_tail(root: Path) -> str:
    log = root / LOG
    return log.read_text()[-4000:] if log.exists() else "(no log)"


def test_user_data_installs_the_deployments_wheel_and_the_worker_command_runs(
    root: Path, wheel: BuiltWheel, s3_endpoint: str, local_api: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = f"s3://{BUCKET}/{wheel.sha256}.whl"
    # a wheel that is not the one the deployment built is refused, nothing installed
    tampered = user_data(local_api, capsys, f"{url}#sha256={'0' * 64}")
    refused = run_in(root, tampered, s3_endpoint)
    assert refused.returncode != 0
    assert f"sha256 is {wheel.sha256}, expected {'0' * 64}; not installed" in log_tail(root)
    assert not (root / "opt/scanfleet/venv/bin/scanfleet").exists()
    assert not (root / "var/log/systemctl-calls").exists()

    started = time.monotonic()
    done = run_in(root, user_data(local_api, capsys, f"{url}#sha256={wheel.sha256}"), s3_endpoint)
    seconds = time.monotonic() - started
    assert done.returncode == 0, log_tail(root)
    print(f"user-data install in the chroot: {seconds:.0f} s")

    calls = (root / "var/log/systemctl-calls").read_text().splitlines()
    assert calls == ["daemon-reload", "enable --now scanfleet-worker.service"]
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((root / "etc/systemd/system/scanfleet-worker.service").read_text())
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert (root / argv[0].lstrip("/")).is_file()  # the command the unit would start
    helped = subprocess.run(
        [CHROOT, str(root), argv[0], *argv[1:2], "--help"],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert "--scan" in helped.stdout
    # and it is the deployment's wheel that pip installed, not a name from an index
    [record] = (root / "opt/scanfleet/venv/lib").glob(
        "python3*/site-packages/scanfleet-*.dist-info"
    )
    origin = (record / "direct_url.json").read_text()
    assert re.search(r'"url": "file:///opt/scanfleet/wheels/scanfleet-[^"]+-py3-none-any\.whl"',
                     origin), origin  # fmt: skip
