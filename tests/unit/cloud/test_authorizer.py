"""The token authorizer: a known token is allowed on the whole API as the same owner the
local server gives it; anything else gets API Gateway's 401."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import boto3
import pytest
from moto import mock_aws
from scanfleet import names
from scanfleet.cloud import TokenRejectedError, authorize, read_secret, tokens_in_secret
from scanfleet.tenancy import mint_trial_token, trial_token_key
from scanfleet.tokens import owner_id

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/scans/sc123"
KNOWN = ["sf_alpha", "sf_beta"]


def test_a_known_token_is_allowed_on_every_route_as_its_owner():
    answer = authorize("Bearer sf_beta", ARN, KNOWN)
    assert answer["principalId"] == owner_id("sf_beta")  # the local server's owner id too
    [statement] = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*/*",
    }


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer   ", "Basic sf_alpha", "sf_alpha", "Bearer sf_gamma"]
)
def test_anything_else_is_refused_with_unauthorized(header: str | None):
    with pytest.raises(TokenRejectedError) as err:
        authorize(header, ARN, KNOWN)
    assert str(err.value) == "Unauthorized"  # the message API Gateway turns into a 401
    assert (err.value.status, err.value.code) == (401, "unauthorized")


def test_the_scheme_is_case_insensitive_and_spaces_are_trimmed():
    assert authorize("  bearer  sf_alpha ", ARN, KNOWN)["principalId"] == owner_id("sf_alpha")


def test_tokens_are_the_string_values_of_the_secret():
    secret = json.dumps({"default": "sf_alpha", "ci": "sf_beta", "note": 3, "empty": ""})
    assert tokens_in_secret(secret) == ["sf_alpha", "sf_beta"]
    with pytest.raises(ValueError, match="JSON object"):
        tokens_in_secret('["sf_alpha"]')


def test_the_lambda_handler_reads_the_tokens_from_secrets_manager(
    monkeypatch: pytest.MonkeyPatch,
):
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="scanfleet-tokens", SecretString=json.dumps({"default": "sf_alpha"})
        )
        monkeypatch.setenv(names.ENV_TOKEN_SECRET, secret["ARN"])
        sys.modules.pop("lambdas.authorizer", None)
        module: Any = importlib.import_module("lambdas.authorizer")
        event = {"type": "TOKEN", "authorizationToken": "Bearer sf_alpha", "methodArn": ARN}
        answer = module.handler(event, _Context())
        assert answer["principalId"] == owner_id("sf_alpha")
        with pytest.raises(TokenRejectedError):
            module.handler({**event, "authorizationToken": "Bearer nope"}, _Context())


class _Context:
    function_name = "authorizer"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:authorizer"
    aws_request_id = "req-1"


# ---- tenants and per-trial worker tokens (issue 12 item 1, issue 14 item 9) ---------------

SECRET = json.dumps(
    {
        "default": "sf_alpha",
        "ci": "sf_beta",
        "vision": {"token": "sf_gamma", "tenant": "vision"},
    }
)
TRIAL = "sc0123456789-0123456789abcdef"


def test_each_token_answers_its_tenant_in_the_context():
    secret = read_secret(SECRET)
    default = authorize("Bearer sf_alpha", ARN, secret)["context"]
    assert default == {"tenant": "123456789012", "former": owner_id("sf_alpha")}  # the account
    assert authorize("Bearer sf_beta", ARN, secret)["context"]["tenant"] == owner_id("sf_beta")
    assert authorize("Bearer sf_gamma", ARN, secret)["context"]["tenant"] == "vision"


def test_a_tenant_in_the_secret_must_be_a_name():
    with pytest.raises(ValueError, match=r"secret\['x'\].tenant"):
        read_secret(json.dumps({"x": {"token": "sf_a", "tenant": "no spaces allowed"}}))


def test_a_worker_token_is_allowed_as_its_trial_without_a_store():
    secret = read_secret(SECRET)
    token = mint_trial_token(trial_token_key("sf_alpha"), TRIAL, 2, 2_000)
    answer = authorize(f"Bearer {token}", ARN, secret, now=1_000)
    assert answer["context"] == {"trial": TRIAL, "attempt": 2}
    assert answer["principalId"] == f"trial:{TRIAL}#2"
    for bad in (
        mint_trial_token(trial_token_key("sf_alpha"), TRIAL, 2, 999),  # expired
        mint_trial_token(trial_token_key("sf_beta"), TRIAL, 2, 2_000),  # another key
        token.replace(".2.", ".3."),  # another attempt
    ):
        with pytest.raises(TokenRejectedError):
            authorize(f"Bearer {bad}", ARN, secret, now=1_000)
    with pytest.raises(TokenRejectedError):  # no default token: no worker tokens
        authorize(f"Bearer {token}", ARN, ["sf_alpha"], now=1_000)


def test_the_lambda_handler_accepts_the_worker_tokens_the_local_key_makes(
    monkeypatch: pytest.MonkeyPatch,
):
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="scanfleet-worker-tokens", SecretString=SECRET
        )
        monkeypatch.setenv(names.ENV_TOKEN_SECRET, secret["ARN"])
        sys.modules.pop("lambdas.authorizer", None)
        module: Any = importlib.import_module("lambdas.authorizer")
        token = mint_trial_token(trial_token_key("sf_alpha"), TRIAL, 1, 2**40)
        event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": ARN}
        assert module.handler(event, _Context())["context"] == {"trial": TRIAL, "attempt": 1}
