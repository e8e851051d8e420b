"""Request bodies nested too deep are a 400 on the Lambda tier too (the local server's
tier is covered in tests/functional/test_api_over_http.py)."""

from __future__ import annotations

import json

import pytest
from scanfleet.api._json_body import MAX_JSON_DEPTH, json_depth, parse_json_body
from scanfleet.errors import InvalidRequestError

from tests.unit.api.test_lambda_handler import FakeContext, event, handler_module

__all__ = ["handler_module"]  # the fixture, used by name


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "\\"[[[", {}]', 2),
        ("[" * 3000 + "]" * 3000, 3000),
    ],
)
def test_json_depth_counts_arrays_and_objects_not_brackets_in_strings(
    text: str, depth: int
) -> None:
    assert json_depth(text) == depth


def test_a_body_at_the_limit_parses_and_one_deeper_is_refused_naming_the_body() -> None:
    at_limit = '{"a": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    assert json.dumps(parse_json_body(at_limit)) == at_limit.replace("][", "], [")
    with pytest.raises(InvalidRequestError) as caught:
        parse_json_body(at_limit.replace("[", "[[", 1).replace("]", "]]", 1))
    assert caught.value.details == [
        {"path": "body", "message": f"JSON nested more than {MAX_JSON_DEPTH} levels deep"}
    ]


def test_the_lambda_handler_answers_a_body_1000_deep_with_400(handler_module: object) -> None:
    deep = '{"name": "deep", "config": ' + "[" * 1000 + "]" * 1000 + "}"
    answer = handler_module.handler(event(body=deep), FakeContext())  # type: ignore[attr-defined]
    assert answer["statusCode"] == 400, answer["body"]
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "invalid_request" and "nested more than" in error["message"]


@pytest.mark.parametrize(
    "text", ["[]", '[{"worker_id": "w"}, 5]', "[null, null]", '"x"', "0", "true"]
)
def test_a_body_that_is_not_an_object_is_refused_naming_the_body(text: str) -> None:
    """Powertools would validate the first item of a list as the body (found by
    schemathesis: ``[null, null]`` pruned a trial, ``[{"worker_id": "w"}]`` claimed one)."""
    with pytest.raises(InvalidRequestError) as caught:
        parse_json_body(text)
    assert caught.value.details == [{"path": "body", "message": "a JSON object is required"}]


def test_an_object_and_null_are_bodies() -> None:
    assert parse_json_body('{"attempt": 1}') == {"attempt": 1}
    assert parse_json_body("null") is None
