"""The tenant mapping (``SCANFLEET_TENANTS``) and the per-trial worker tokens' format."""

from __future__ import annotations

import json

import pytest
from scanfleet.tenancy import (
    TenancyError,
    TenantMap,
    account_of,
    mint_trial_token,
    trial_token_key,
    verify_trial_token,
)

JOB_SESSION = "arn:aws:sts::123456789012:assumed-role/scanfleet-JobRole-1AB/8f1e-job"


def test_by_default_a_caller_belongs_to_its_account():
    assert TenantMap().tenant_of(JOB_SESSION) == "123456789012"
    assert TenantMap().tenant_of("arn:aws:iam::210987654321:user/bob") == "210987654321"
    assert account_of("not-an-arn") is None and TenantMap().tenant_of("arn:aws:iam:::x") is None


def test_a_role_rule_covers_its_sessions_and_the_first_rule_wins():
    mapping = TenantMap.parse(
        json.dumps(
            {
                "arn:aws:iam::123456789012:role/service/scanfleet-JobRole-1AB": "vision",
                "arn:aws:sts::123456789012:assumed-role/*": "ops",
                "*": None,
            }
        )
    )
    assert mapping.tenant_of(JOB_SESSION) == "vision"  # the path is not in a session ARN
    assert mapping.tenant_of("arn:aws:sts::123456789012:assumed-role/Other/s") == "ops"
    assert mapping.tenant_of("arn:aws:iam::123456789012:user/alice") is None  # refused
    assert mapping.owner_tenant(JOB_SESSION) == "vision"  # a stored ARN owner
    assert mapping.owner_tenant("tok-0123") == "tok-0123"  # a stored tenant, as it is


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        ('{"alice": "x"}', "'alice'"),
        ('{"arn:aws:iam::1:user/a": "two words"}', "two words"),
        ('{"arn:aws:iam::1:user/a": 3}', "3"),
    ],
)
def test_a_bad_mapping_names_the_setting_and_the_entry(text: str, names: str):
    with pytest.raises(TenancyError, match="SCANFLEET_TENANTS") as err:
        TenantMap.parse(text)
    assert names in str(err.value)


def test_a_trial_token_holds_its_trial_attempt_and_expiry_under_a_mac():
    key = trial_token_key("sf_default")
    token = mint_trial_token(key, "sc0123456789-00ff", 3, 500)
    assert token.startswith("sft_sc0123456789-00ff.3.500.")
    grant = verify_trial_token(key, token, now=499)
    assert grant is not None and (grant.trial_id, grant.attempt) == ("sc0123456789-00ff", 3)
    assert verify_trial_token(key, token, now=500) is None  # expired
    assert verify_trial_token(trial_token_key("sf_other"), token, now=0) is None
    assert verify_trial_token(key, token.replace(".3.", ".4."), now=0) is None
    assert verify_trial_token(key, "sft_garbage", now=0) is None
