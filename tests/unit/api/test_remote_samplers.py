"""The API refuses a remote scan whose sampler cannot run in the cloud: 400, the config's
error code, the field and the alternatives; nothing is created."""

from __future__ import annotations

from tests.unit.api.conftest import Api
from tests.unit.config.test_remote_samplers import optuna_scan


def test_creating_a_remote_scan_with_cmaes_is_refused(api: Api) -> None:
    answer = api("POST", "/scans", {"name": "cma", "config": optuna_scan("cmaes")})
    assert answer.status == 400, answer.body
    assert answer.code == "invalid_config"
    message = answer.body["error"]["message"]
    assert "optuna.sampler" in message and "use tpe, random, nsga2" in message
    assert api("GET", "/scans").body["scans"] == []


def test_the_same_scan_with_tpe_is_created(api: Api) -> None:
    answer = api("POST", "/scans", {"name": "tpe", "config": optuna_scan("tpe")})
    assert answer.status == 201, answer.body
