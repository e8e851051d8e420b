"""The config's run inputs as the sending machine sees them (``local_inputs``); the rest of
its behaviour is tested with the worker's half in tests/unit/runtime/test_inputs.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scanfleet.config import ConfigError, command_script, load_config, local_inputs


def test_a_script_that_is_not_text_is_a_config_error_naming_script(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_bytes(b"\xff\xfe not utf-8 \x80")
    config = load_config(
        {"strategy": "grid", "metric": {"name": "loss"}, "script": str(tmp_path / "train.py"),
         "parameters": {"a": {"values": [1]}}}
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        local_inputs(config)
    assert [p.path for p in caught.value.problems] == ["script"]
    assert "is not UTF-8 text" in caught.value.problems[0].message


def test_the_client_loads_without_the_worker_runtime() -> None:
    """client → runtime would close a cycle (the runtime imports the client)."""
    code = (
        "import sys, scanfleet.client, scanfleet.client.compat.oscar, "
        "scanfleet.client.compat.schedy, scanfleet.client.heartbeat; "
        "print(sorted(m for m in sys.modules if m.startswith('scanfleet.runtime')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("command", "script"),
    [
        (["python", "train.py", "--data", "d"], "train.py"),
        (["python3", "src/train.py"], "src/train.py"),
        (["python", "-m", "train"], None),
        (["python", "/abs/train.py"], None),
        (["torchrun", "train.py"], None),
        (["python"], None),
        (None, None),
    ],
)
def test_the_script_a_command_runs(command: list[str] | None, script: str | None) -> None:
    assert command_script(command) == script


def test_a_commands_script_beside_the_config_is_uploaded_as_the_script(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "scan.yaml").write_text(
        "command: python train.py\nstrategy: grid\nmetric: {name: loss}\n"
        "parameters: {a: {values: [1]}}\n"
    )
    config, content = local_inputs(load_config(tmp_path / "scan.yaml"))
    assert (config.script, config.command, content) == (
        "train.py",
        ["python", "train.py"],
        "print('hi')\n",
    )

    (tmp_path / "train.py").unlink()  # a script only the workers have (an image): as it is
    config, content = local_inputs(load_config(tmp_path / "scan.yaml"))
    assert (config.script, content) == (None, None)
