"""The Spot watcher against a fake IMDSv2 on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scanfleet import names
from scanfleet.runtime.spot import (
    IMDS_URL,
    InstanceMetadata,
    SpotNotice,
    SpotWatcher,
    metadata_url_from,
    on_ec2,
)

from tests.fault.imds import FakeMetadata


@pytest.fixture
def imds() -> Iterator[FakeMetadata]:
    fake = FakeMetadata()
    yield fake
    fake.close()


def test_no_notice_is_none_and_a_notice_gives_action_and_time(imds: FakeMetadata) -> None:
    metadata = InstanceMetadata(imds.url)
    assert metadata.spot_notice() is None
    imds.announce(in_seconds=120, action="stop")
    notice = metadata.spot_notice()
    assert notice is not None and notice.action == "stop"
    assert notice.seconds_left(time.time()) == pytest.approx(120, abs=2)
    assert imds.tokens_issued == 1  # one token serves every poll


def test_a_token_the_service_no_longer_accepts_is_renewed_once(imds: FakeMetadata) -> None:
    metadata = InstanceMetadata(imds.url)
    assert metadata.spot_notice() is None
    imds.valid_token = "token-2"  # the service restarted: old tokens are refused
    imds.announce()
    assert metadata.spot_notice() is not None
    assert (imds.tokens_issued, imds.rejected) == (2, 1)


def test_the_watcher_calls_back_once_and_stops_polling(imds: FakeMetadata) -> None:
    heard: list[SpotNotice] = []
    called = threading.Event()

    def on_notice(notice: SpotNotice) -> None:
        heard.append(notice)
        called.set()

    watcher = SpotWatcher(InstanceMetadata(imds.url), on_notice, interval=0.02).start()
    time.sleep(0.1)
    assert not called.is_set() and imds.polls >= 2
    imds.announce()
    assert called.wait(5)
    polls = imds.polls
    time.sleep(0.1)
    assert len(heard) == 1 and imds.polls == polls
    watcher.stop()


def test_a_silent_metadata_service_is_not_a_notice() -> None:
    watcher = SpotWatcher(InstanceMetadata("http://127.0.0.1:9", timeout=0.2), lambda n: None)
    assert watcher.check() is None


def fake_sys(root: Path, relative: str, content: str) -> Path:
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_text(content)
    return root


def test_the_endpoint_is_the_env_then_the_real_one_on_ec2_only(tmp_path: Path) -> None:
    laptop = fake_sys(tmp_path / "laptop", "devices/virtual/dmi/id/sys_vendor", "LENOVO\n")
    ec2 = fake_sys(tmp_path / "ec2", "devices/virtual/dmi/id/board_asset_tag", "i-0abc\n")
    assert not on_ec2(laptop) and on_ec2(ec2)
    assert metadata_url_from({}, laptop) is None
    assert metadata_url_from({}, ec2) == IMDS_URL
    assert metadata_url_from({"AWS_EC2_METADATA_DISABLED": "true"}, ec2) is None
    assert metadata_url_from({names.ENV_METADATA_URL: "http://127.0.0.1:1"}, laptop) == (
        "http://127.0.0.1:1"
    )
    assert metadata_url_from({names.ENV_METADATA_URL: "off"}, ec2) is None


def test_an_agent_started_under_a_pending_notice_claims_nothing(imds: FakeMetadata) -> None:
    from scanfleet.client import Client
    from scanfleet.runtime.agent import agent_from_env

    imds.announce(in_seconds=60)
    env = {names.ENV_METADATA_URL: imds.url, names.ENV_METADATA_INTERVAL: "0.05"}
    agent = agent_from_env(Client(url="http://127.0.0.1:1", max_retries=0), "sc1", env)
    assert agent.run() == names.ExitCode.INTERRUPTED  # the API (unreachable) is never called
    assert imds.polls == 1
