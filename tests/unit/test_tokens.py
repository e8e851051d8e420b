"""Tokens of the local server: made on first start, kept private, mapped to stable owners;
a token file of any other shape is refused, naming the file and the field."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from scanfleet.tokens import TOKENS_FILE, TokenStore, TokenStoreError, owner_id


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_creates_a_random_token_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    store = TokenStore(tmp_path / "state")
    path = tmp_path / "state" / "tokens.json"
    assert mode_of(path) == 0o600
    token = store.default_token
    assert token.startswith("sf_") and len(token) > 40
    assert json.loads(path.read_text())["tokens"] == [token]
    assert TokenStore(tmp_path / "other").default_token != token


def test_a_restart_keeps_the_token_and_its_owner(tmp_path: Path) -> None:
    first = TokenStore(tmp_path)
    again = TokenStore(tmp_path)
    assert again.default_token == first.default_token
    assert again.owner_for(first.default_token) == first.owner_for(first.default_token)


def test_the_owner_is_a_stable_hash_that_does_not_reveal_the_token(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token = store.default_token
    owner = store.owner_for(token)
    assert owner == owner_id(token) and owner.startswith("tok-")
    assert token not in owner and token.removeprefix("sf_")[:8] not in owner


def test_an_extra_token_is_another_owner_and_survives_a_restart(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    extra = store.create_token()
    assert store.owner_for(extra) not in (None, store.owner_for(store.default_token))
    reopened = TokenStore(tmp_path)
    assert reopened.owner_for(extra) == store.owner_for(extra)
    assert reopened.default_token == store.default_token
    assert mode_of(tmp_path / "tokens.json") == 0o600


@pytest.mark.parametrize("token", [None, "", "sf_unknown", "Bearer x"])
def test_unknown_or_missing_tokens_have_no_owner(tmp_path: Path, token: str | None) -> None:
    assert TokenStore(tmp_path).owner_for(token) is None


def test_a_token_added_by_another_process_is_accepted_by_a_running_store(
    tmp_path: Path,
) -> None:
    server_side = TokenStore(tmp_path)
    cli_side = TokenStore(tmp_path)  # e.g. a second process adding a token
    added = cli_side.create_token()
    assert server_side.owner_for(added) == owner_id(added)
    # and neither lost the other's tokens when writing
    third = server_side.create_token()
    assert set(TokenStore(tmp_path).tokens()) == {server_side.default_token, added, third}


def test_a_loosened_token_file_is_made_private_again(tmp_path: Path) -> None:
    TokenStore(tmp_path)
    (tmp_path / "tokens.json").chmod(0o644)
    TokenStore(tmp_path)
    assert mode_of(tmp_path / "tokens.json") == 0o600


def test_a_corrupt_token_file_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text("{not json")
    with pytest.raises(TokenStoreError, match="tokens.json"):
        TokenStore(tmp_path)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"tokens": "abc"}, "'tokens' must be a list of tokens, not str"),
        ({"tokens": {"sf_a": "x"}}, "'tokens' must be a list of tokens, not dict"),
        ({"tokens": ["sf_ok", 7]}, "'tokens[1]' must be a non-empty string without spaces"),
        ({"tokens": ["sf_ok", ""]}, "'tokens[1]' must be a non-empty string without spaces"),
        ({"tokens": [" sf_padded"]}, "'tokens[0]' must be a non-empty string without spaces"),
        ({}, "no field 'tokens'"),
        ({"tokens": ["sf_ok"], "owner": "me"}, "unknown field 'owner'"),
        (["sf_ok"], 'must be a JSON object {"tokens": [...]}, not list'),
    ],
)
def test_a_token_file_of_another_shape_is_refused_naming_the_file_and_field(
    tmp_path: Path, document: object, field: str
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(document))
    with pytest.raises(TokenStoreError) as refused:
        TokenStore(tmp_path)
    assert str(path) in str(refused.value) and field in str(refused.value)
    assert json.loads(path.read_text()) == document  # refused, not rewritten


def test_a_string_of_tokens_does_not_make_each_character_a_token(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text('{"tokens": "abc"}')
    with pytest.raises(TokenStoreError, match="tokens"):
        TokenStore(tmp_path).owner_for("a")


def test_a_file_broken_while_running_keeps_the_known_tokens_and_accepts_none_of_it(
    tmp_path: Path,
) -> None:
    running = TokenStore(tmp_path)
    token = running.default_token
    (tmp_path / "tokens.json").write_text('{"tokens": "abc"}')
    assert running.owner_for("a") is None
    assert running.owner_for(token) == owner_id(token)
    with pytest.raises(TokenStoreError):
        TokenStore(tmp_path)  # a restart refuses it


def test_a_token_may_name_its_tenant_and_keeps_its_former_owner_id(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    shared = store.create_token(tenant="vision")
    assert store.tenant_for(shared) == "vision"
    assert store.tenant_for(shared).former == owner_id(shared)  # type: ignore[union-attr]
    assert store.tenant_for(store.default_token) == owner_id(store.default_token)
    again = TokenStore(tmp_path)  # read back from the file
    assert again.tenant_for(shared) == "vision" and again.tenant_for("sf_nope") is None
    with pytest.raises(ValueError, match="tenant"):
        store.create_token(tenant="two words")


def test_a_token_entry_with_a_bad_tenant_names_the_field(tmp_path: Path) -> None:
    (tmp_path / TOKENS_FILE).write_text(json.dumps({"tokens": [{"token": "sf_a", "tenant": ""}]}))
    with pytest.raises(TokenStoreError, match=r"tokens\[0\].tenant"):
        TokenStore(tmp_path)
    (tmp_path / TOKENS_FILE).write_text(json.dumps({"tokens": [{"token": "sf_a", "x": 1}]}))
    with pytest.raises(TokenStoreError, match="unknown field tokens\\[0\\].'x'"):
        TokenStore(tmp_path)
