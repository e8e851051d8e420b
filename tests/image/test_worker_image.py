"""The real worker/Dockerfile, built with buildah on a Debian bookworm base made here with
debootstrap, then its entrypoint run inside the image against the local API on loopback:
a trial runs to the end (exit 0), and a trial that hears a Spot notice saves a checkpoint
and exits 75 (the code Batch's retry strategy retries)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from scanfleet import names
from scanfleet.client import Client
from scanfleet.records import TrialState

from tests.fault.conftest import LEASE_S, STEPS_SCRIPT
from tests.fault.imds import FakeMetadata
from tests.image.builder import Buildah, missing_tools

pytestmark = [
    pytest.mark.skipif(
        bool(missing_tools()), reason=f"needs {missing_tools()} (make test installs them)"
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="buildah with vfs storage runs as root here"),
    pytest.mark.timeout(1500),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Buildah, str]]:
    root = tmp_path_factory.mktemp("buildah")
    buildah = Buildah(root)
    tag = buildah.build_worker(root / "pip.conf")
    yield buildah, tag
    print(f"image test timings (s): {buildah.timings}; image {buildah.image_size(tag)}")
    shutil.rmtree(root, ignore_errors=True)


def job_env(api: Any, trial_id: str, **extra: str) -> dict[str, str]:
    return {
        names.ENV_API_URL: api.url,
        names.ENV_TOKEN: api.tokens.default_token,
        names.ENV_TRIAL_ID: trial_id,
        names.ENV_CHECKPOINT_URL: "/tmp/checkpoints",
        names.ENV_METADATA_URL: names.METADATA_OFF,
        names.ENV_METADATA_INTERVAL: "0.1",
        names.ENV_POLL_INTERVAL: "0.1",
        names.ENV_AUTH: "token",
        "AWS_BATCH_JOB_ID": "job-1",
        "STEP_LEDGER": "/tmp/ledger.txt",
        "STEP_DELAY": "0.05",
        **extra,
    }


def queued_trial(api: Any, steps: int) -> tuple[Any, str]:
    client = Client(url=api.url, token=api.tokens.default_token)
    config = {
        "strategy": "grid",
        "command": "python /tmp/steps.py",
        "metric": {"name": "steps", "goal": "maximize"},
        "execution": {"lease_seconds": LEASE_S},
        "parameters": {"steps": {"value": steps}, "every": {"value": 5}},
    }
    scan = client.create_scan("image", config)
    return scan, scan.add_trial({}).id


def container_with_script(buildah: Buildah, tag: str, tmp_path: Path) -> str:
    container = buildah("from", tag)
    (tmp_path / "steps.py").write_text(STEPS_SCRIPT)
    buildah("copy", "--chown", "1000:1000", container, str(tmp_path / "steps.py"), "/tmp/steps.py")
    return container


def test_the_image_runs_a_trial_to_the_end(
    built: tuple[Buildah, str], local_api: Any, tmp_path: Path
) -> None:
    buildah, tag = built
    entrypoint = buildah.entrypoint(tag)
    assert entrypoint == ["python", "-m", "scanfleet.runtime.batch"]
    scan, trial_id = queued_trial(local_api, steps=6)
    container = container_with_script(buildah, tag, tmp_path)
    try:
        code = buildah.run(container, entrypoint, job_env(local_api, trial_id))
    finally:
        buildah("rm", container)
    assert code == names.ExitCode.OK, buildah.last_output
    (trial,) = scan.trials()
    assert trial.record.state is TrialState.COMPLETED and trial.record.values == {"steps": 6.0}


@pytest.fixture
def container_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local server whose checkpoint root is the container's /tmp/checkpoints (where
    the job in the image writes), so the trial's checkpoints are inside it."""
    from scanfleet.local.auth import TokenStore
    from scanfleet.local.server import LocalServer, open_local_service

    monkeypatch.setenv(names.ENV_CHECKPOINT_URL, "/tmp/checkpoints")
    server = LocalServer(open_local_service(tmp_path / "state"), TokenStore(tmp_path / "state"))
    server.start()
    yield server
    server.stop()


def test_the_image_checkpoints_and_exits_75_on_a_spot_notice(
    built: tuple[Buildah, str], container_api: Any, tmp_path: Path
) -> None:
    local_api = container_api
    buildah, tag = built
    metadata = FakeMetadata()
    scan, trial_id = queued_trial(local_api, steps=10_000)
    container = container_with_script(buildah, tag, tmp_path)
    env = job_env(local_api, trial_id, **{names.ENV_METADATA_URL: metadata.url})
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(buildah.run, container, buildah.entrypoint(tag), env)
        try:
            wait_until(lambda: first_trial(scan).checkpoint is not None, job)
            metadata.announce()  # Spot's two-minute notice, while the trial trains
            code = job.result(timeout=120)
        finally:
            metadata.close()
    buildah("rm", container)
    assert code == names.ExitCode.INTERRUPTED == 75, buildah.last_output
    trial = first_trial(scan)
    assert (trial.state, trial.preemptions) == (TrialState.QUEUED, 1), trial
    assert trial.checkpoint is not None and trial.checkpoint.step >= 5


def first_trial(scan: Any) -> Any:
    (trial,) = scan.trials()
    return trial.record


def wait_until(predicate: Callable[[], bool], job: Future[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert not job.done(), f"the job ended first: {job.result()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
