"""Tags and records stay within what one DynamoDB item holds: the API refuses too many tags,
too long a key or value, and a record over its budget with a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from scanfleet.wire import (
    MAX_RECORD_BYTES,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
)

from tests.unit.api.conftest import Answer, Api
from tests.unit.api.routes import GRID


@pytest.fixture
def trial_id(api: Api) -> str:
    scan_id = api.create_scan()
    answer = api("POST", f"/scans/{scan_id}/trials", {"params": {"a": 1, "b": "x"}})
    assert answer.status in (200, 201), answer.body
    return str(answer.body["trial_id"])


def refused(answer: Answer, path: str) -> dict[str, Any]:
    assert answer.status == 400, (answer.status, str(answer.body)[:300])
    error = answer.body["error"]
    assert error["code"] == "invalid_request"
    assert [problem["path"] for problem in error["details"]][:1] == [path]
    assert path in error["message"]
    return dict(error)


def test_a_27_mb_tags_payload_is_refused_not_stored(api: Api, trial_id: str) -> None:
    tags = {f"k{i}": "v" * 1000 for i in range(27_000)}  # 27 MB of JSON
    error = refused(api("POST", f"/trials/{trial_id}/tags", {"tags": tags}), "body.tags")
    assert f"at most {MAX_TAGS}" in error["message"]
    assert len(str(error)) < 1000  # one problem, not one per tag
    assert api("GET", f"/trials/{trial_id}").body["tags"] == {}


def test_one_huge_tag_value_is_refused_naming_its_key(api: Api, trial_id: str) -> None:
    answer = api("POST", f"/trials/{trial_id}/tags", {"tags": {"note": "x" * 27_000_000}})
    error = refused(answer, "body.tags.note")
    assert f"at most {MAX_TAG_VALUE_CHARS} characters" in error["message"]


def test_too_long_a_key_is_refused(api: Api, trial_id: str) -> None:
    key = "k" * (MAX_TAG_KEY_CHARS + 1)
    answer = api("POST", f"/trials/{trial_id}/tags", {"tags": {key: "v"}})
    refused(answer, f"body.tags.{key[:MAX_TAG_KEY_CHARS]}")


def test_tags_at_every_limit_are_accepted(api: Api, trial_id: str) -> None:
    tags = {f"{i:03d}".ljust(MAX_TAG_KEY_CHARS, "k"): "v" * MAX_TAG_VALUE_CHARS for i in range(50)}
    answer = api("POST", f"/trials/{trial_id}/tags", {"tags": tags})
    assert answer.status == 200, answer.body
    assert answer.body["tags"] == tags


def test_tags_merged_past_the_count_are_refused(api: Api, trial_id: str) -> None:
    first = {f"a{i}": "v" for i in range(MAX_TAGS - 1)}
    assert api("POST", f"/trials/{trial_id}/tags", {"tags": first}).status == 200
    again = api("POST", f"/trials/{trial_id}/tags", {"tags": {"a0": "w"}})  # replaces one
    assert again.status == 200 and again.body["tags"]["a0"] == "w"
    error = refused(
        api("POST", f"/trials/{trial_id}/tags", {"tags": {"b": "1", "c": "2"}}), "body.tags"
    )
    assert f"would carry {MAX_TAGS + 1} tags" in error["message"]
    assert len(api("GET", f"/trials/{trial_id}").body["tags"]) == MAX_TAGS - 1


def test_a_trial_added_with_too_many_tags_is_refused(api: Api) -> None:
    scan_id = api.create_scan()
    body = {"params": {"a": 1, "b": "x"}, "tags": {f"k{i}": "v" for i in range(MAX_TAGS + 1)}}
    refused(api("POST", f"/scans/{scan_id}/trials", body), "body.tags")
    assert api("GET", f"/scans/{scan_id}/trials").body["trials"] == []


def test_a_trial_whose_params_overflow_the_record_is_refused(api: Api) -> None:
    scan_id = api.create_scan()
    body = {"params": {"a": 1, "b": "x" * MAX_RECORD_BYTES}, "tags": {"note": "big"}}
    error = refused(api("POST", f"/scans/{scan_id}/trials", body), "body.params")
    assert f"at most {MAX_RECORD_BYTES}" in error["message"]


def test_scan_config_tags_are_held_to_the_same_limits(api: Api) -> None:
    config = {**GRID, "tags": {f"k{i}": "v" for i in range(MAX_TAGS + 1)}}
    refused(api("POST", "/scans", {"name": "g", "config": config}), "body.config.tags")
    config = {**GRID, "tags": {"team": "x" * (MAX_TAG_VALUE_CHARS + 1)}}
    refused(api("POST", "/scans", {"name": "g", "config": config}), "body.config.tags.team")
    assert api("GET", "/scans").body["scans"] == []


def test_a_scan_config_over_the_record_budget_is_refused(api: Api) -> None:
    config = {**GRID, "description": "x" * MAX_RECORD_BYTES}
    refused(api("POST", "/scans", {"name": "g", "config": config}), "body.config")
