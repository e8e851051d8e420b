"""The cloud tier: the stack's template, synthesised once per session, deployed into moto;
see ``harness.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.harness import Cloud, running_cloud, synth_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return synth_template()


@pytest.fixture
def cloud(
    template: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    with running_cloud(template, tmp_path, monkeypatch) as cloud:
        yield cloud
