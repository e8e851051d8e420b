"""Where the client's settings come from, and what importing the SDK costs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from scanfleet.client import Client
from scanfleet.config import ConfigError

from tests.unit.client.conftest import GRID, Answer, ScriptedServer, summary_body

Make = Callable[..., ScriptedServer]


def test_the_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANFLEET_API_URL", "http://env.example:1")
    monkeypatch.setenv("SCANFLEET_TOKEN", "sf_env")
    assert Client().url == "http://env.example:1" and Client().http.token == "sf_env"
    explicit = Client(url="http://arg.example:2/", token="sf_arg")
    assert explicit.url == "http://arg.example:2" and explicit.http.token == "sf_arg"


def test_a_missing_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCANFLEET_API_URL", raising=False)
    with pytest.raises(ValueError, match="SCANFLEET_API_URL"):
        Client()


def test_a_url_that_is_not_http_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"http\(s\)://"):
        Client(url="localhost:8080")


def test_settings_reach_the_transport() -> None:
    client = Client(url="http://127.0.0.1:1", timeout=5.0, max_retries=0, worker_id="gpu-7")
    assert client.http.timeout == 5.0 and client.http.max_retries == 0
    assert client.worker_id == "gpu-7"


def test_an_invalid_config_raises_before_any_request(scripted: Make) -> None:
    server = scripted()
    bad = {**GRID, "metric": {"name": "loss", "goal": "lowest"}}
    with pytest.raises(ConfigError) as caught:
        Client(url=server.url).create_scan("bad", bad)
    assert [p.path for p in caught.value.problems] == ["metric.goal"]
    assert server.requests == []


def test_the_config_is_sent_as_written_once_validated(scripted: Make, tmp_path: Any) -> None:
    """Defaults are the server's to fill: the wire carries what the user set."""
    path = tmp_path / "scan.yaml"
    path.write_text("strategy: grid\nmetric: {name: loss}\nparameters:\n  a: {values: [1, 2]}\n")
    server = scripted(Answer(201, summary_body()))
    Client(url=server.url).create_scan("from-yaml", path)
    assert server.requests[0].json() == {
        "name": "from-yaml",
        "config": {
            "strategy": "grid",
            "metric": {"name": "loss"},
            "parameters": {"a": {"values": [1, 2]}},
        },
    }


def test_to_dataframe_without_pandas_names_the_extra(
    scripted: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted(Answer(200, summary_body()))
    scan = Client(url=server.url).get_scan("sc1")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"scanfleet\[pandas\]"):
        scan.to_dataframe()


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


HEAVY = ("boto3", "botocore", "optuna", "aws_lambda_powertools", "pandas", "rich")


def test_importing_the_client_imports_nothing_heavy() -> None:
    loaded = _modules_after("import scanfleet.client")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_import_scanfleet_stays_cheap_and_client_loads_on_first_use() -> None:
    assert "scanfleet.client" not in _modules_after("import scanfleet")
    assert "scanfleet.client" in _modules_after(
        "import scanfleet; assert scanfleet.Client.__module__ == 'scanfleet.client._client'"
    )
