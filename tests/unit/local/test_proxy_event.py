"""The local server turns HTTP requests into the proxy events API Gateway sends."""

from __future__ import annotations

import base64
import json

from scanfleet.local.server import proxy_event


def test_a_request_becomes_a_rest_proxy_event_with_the_caller_as_principal() -> None:
    event = proxy_event(
        "POST",
        "/scans/sc1/trials/claim",
        "",
        [("Content-Type", "application/json"), ("Authorization", "Bearer sf_x")],
        b'{"worker_id": "w"}',
        "tok-abc",
        client_ip="127.0.0.9",
    )
    assert event["httpMethod"] == "POST" and event["path"] == "/scans/sc1/trials/claim"
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "scans/sc1/trials/claim"}
    assert json.loads(event["body"]) == {"worker_id": "w"} and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["authorizer"] == {"principalId": "tok-abc"}
    assert ctx["identity"]["sourceIp"] == "127.0.0.9" and ctx["requestId"]
    assert event["queryStringParameters"] is None and event["body"] is not None


def test_repeated_query_parameters_and_headers_keep_every_value() -> None:
    event = proxy_event(
        "GET",
        "/scans",
        "status=RUNNING&tag=a%3A1&tag=b:2&empty=",
        [("Accept", "application/json"), ("X-Trace", "1"), ("X-Trace", "2")],
        b"",
        "tok-abc",
    )
    assert event["multiValueQueryStringParameters"] == {
        "status": ["RUNNING"],
        "tag": ["a:1", "b:2"],
        "empty": [""],
    }
    assert event["queryStringParameters"] == {"status": "RUNNING", "tag": "b:2", "empty": ""}
    assert event["multiValueHeaders"]["X-Trace"] == ["1", "2"]
    assert event["headers"]["X-Trace"] == "2"  # API Gateway keeps the last one here
    assert event["body"] is None


def test_a_binary_body_is_passed_base64_encoded_and_no_token_no_principal() -> None:
    event = proxy_event("POST", "/scans", "", [], b"\xff\xfe\x00", None)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00"
    assert event["requestContext"]["authorizer"] is None
