"""IAM SigV4 signing (botocore, imported lazily) and the choice of auth."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from scanfleet.client import Client
from scanfleet.client._auth import SigV4Auth, TokenAuth, _region_from_url

from tests.unit.client.conftest import Answer, ScriptedServer, error_body

Make = Callable[..., ScriptedServer]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def test_iam_auth_signs_every_attempt_with_sigv4(scripted: Make, aws_env: None) -> None:
    server = scripted(Answer(503, error_body("busy")), Answer(200, {"scans": []}))
    client = Client(url=server.url, token="sf_ignored", auth="iam", sleep=lambda s: None)
    client.list_scans(status="RUNNING")
    for seen in server.requests:
        auth = seen.header("Authorization") or ""
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        assert "/eu-west-1/execute-api/aws4_request" in auth
        assert "SignedHeaders=" in auth and "host" in auth and "Bearer" not in auth
        assert seen.header("X-Amz-Date")


def test_a_signed_post_covers_its_idempotency_key(scripted: Make, aws_env: None) -> None:
    server = scripted(Answer(200, {"step": 1, "prune": False, "reason": "ok"}))
    client = Client(url=server.url, auth="iam")
    client.http.request("POST", "/trials/t/reports", {"metric": "loss", "step": 1, "value": 1})
    auth = server.requests[0].header("Authorization") or ""
    assert "idempotency-key" in auth and "content-type" in auth


def test_the_environment_chooses_iam(
    scripted: Make, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCANFLEET_AUTH", "iam")
    client = Client(url="https://abc123.execute-api.ap-south-1.amazonaws.com/prod")
    assert isinstance(client.http.auth, SigV4Auth) and client.http.auth.region == "ap-south-1"
    assert client.http.token is None


def test_token_auth_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCANFLEET_AUTH", raising=False)
    client = Client(url="http://127.0.0.1:1", token="sf_x")
    assert isinstance(client.http.auth, TokenAuth) and client.http.token == "sf_x"


def test_an_unknown_auth_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="SCANFLEET_AUTH"):
        Client(url="http://127.0.0.1:1", auth="kerberos")


def test_iam_without_botocore_says_what_to_install(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.setitem(sys.modules, "botocore.session", None)
    with pytest.raises(ImportError, match="pip install botocore"):
        Client(url="http://127.0.0.1:1", auth="iam")


def test_the_region_is_read_from_an_execute_api_url() -> None:
    assert _region_from_url("https://x1.execute-api.us-east-2.amazonaws.com/v1") == "us-east-2"
    assert _region_from_url("http://127.0.0.1:8080") is None
