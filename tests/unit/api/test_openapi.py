"""The OpenAPI document says who may call (security schemes), what a body must hold
(``oneOf``), what an answer is (no body with 204), and how one answer feeds the next
operation (links a client or a stateful fuzzer can follow through a scan's life)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import Api


@pytest.fixture
def doc(api: Api) -> dict[str, Any]:
    answer = api("GET", "/openapi.json")
    assert answer.status == 200
    return dict(answer.body)


def _operations(doc: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }


def test_every_route_but_health_takes_a_bearer_token_or_iam(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["iam"]["type"] == "apiKey"
    assert schemes["iam"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert doc["security"] == [{"bearerAuth": []}, {"iam": []}]
    for operation_id, (_, _, op) in _operations(doc).items():
        if operation_id == "health":
            assert op["security"] == []
        else:
            assert "security" not in op, operation_id  # the document's: either scheme
            assert "401" in op["responses"], operation_id


def test_operation_ids_are_named_for_what_they_do(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    assert ops["createScan"][:2] == ("POST", "/scans")
    assert ops["claimNextTrial"][:2] == ("POST", "/scans/{scan_id}/trials/claim")
    assert ops["reportValue"][:2] == ("POST", "/trials/{trial_id}/reports")
    assert ops["completeTrial"][:2] == ("POST", "/trials/{trial_id}/complete")
    assert ops["createWorkerToken"][:2] == ("POST", "/trials/{trial_id}/worker-token")
    assert len(ops) == 24


def test_complete_states_exactly_one_of_values_or_value(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["CompleteBody"]
    required = sorted(tuple(branch["required"]) for branch in schema["oneOf"])
    assert required == [("value",), ("values",)]


def test_tags_state_their_limits(doc: dict[str, Any]) -> None:
    for name in ("TagsBody", "AddTrialBody"):
        tags = doc["components"]["schemas"][name]["properties"]["tags"]
        assert tags["maxProperties"] == 50
        assert tags["propertyNames"] == {"minLength": 1, "maxLength": 128}
        assert tags["additionalProperties"] == {"type": "string", "maxLength": 1024}


def test_an_answer_without_a_body_documents_none(doc: dict[str, Any]) -> None:
    none_free = doc["paths"]["/scans/{scan_id}/trials/claim"]["post"]["responses"]["204"]
    assert "content" not in none_free


def test_every_link_names_an_operation_and_fills_its_path(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    count = 0
    for source, (_, _, op) in ops.items():
        for status, response in op["responses"].items():
            for name, link in response.get("links", {}).items():
                count += 1
                _, path, target = ops[link["operationId"]]
                wanted = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                assert set(link["parameters"]) == wanted, (source, status, name)
                if "requestBody" in link:
                    body = target["requestBody"]["content"]["application/json"]["schema"]
                    ref = next(s["$ref"] for s in [body, *body.get("anyOf", [])] if "$ref" in s)
                    fields = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
                    assert set(link["requestBody"]) <= set(fields["properties"])
    assert count > 50


def _resolve(expression: str, request_path: dict[str, str], answer: Any) -> Any:
    """An OpenAPI runtime expression of the forms the document uses."""
    if expression.startswith("$request.path."):
        return request_path[expression.removeprefix("$request.path.")]
    assert expression.startswith("$response.body#/"), expression
    value = answer
    for part in expression.removeprefix("$response.body#/").split("/"):
        value = value[part]
    return value


def _follow(
    api: Api,
    doc: dict[str, Any],
    step: tuple[str, dict[str, str], Any],
    link_name: str,
    body: dict[str, Any] | None = None,
) -> tuple[str, dict[str, str], Any]:
    """Call the operation that ``link_name`` of the last step's answer points to."""
    ops = _operations(doc)
    source, path_params, answer = step
    responses = ops[source][2]["responses"]
    links = [r["links"][link_name] for r in responses.values() if link_name in r.get("links", {})]
    link = links[0]
    method, path, _ = ops[link["operationId"]]

    def values(expressions: dict[str, str]) -> dict[str, Any]:
        return {k: _resolve(v, path_params, answer.body) for k, v in expressions.items()}

    params, extra = values(link["parameters"]), values(link.get("requestBody", {}))
    result = api(method, path.format(**params), {**(body or {}), **extra} or None)
    assert 200 <= result.status < 300, (link_name, result.body)
    return link["operationId"], params, result


def test_the_links_chain_a_scan_from_create_to_complete(api: Api, doc: dict[str, Any]) -> None:
    created = api("POST", "/scans", {"name": "linked", "config": _GRID})
    step = ("createScan", {}, created)
    claimed = _follow(api, doc, step, "claimNextTrial", {"worker_id": "w"})
    beat = _follow(api, doc, claimed, "heartbeatTrial")
    assert beat[2].body["attempt"] == 1
    reported = _follow(api, doc, claimed, "reportValue", {"metric": "loss", "step": 1, "value": 2})
    trial_id = claimed[2].body["trial_id"]
    scan_id = trial_id.rsplit("-", 1)[0]
    inside = f"s3://bucket/checkpoints/{scan_id}/{trial_id}/ckpt"
    _follow(api, doc, claimed, "recordCheckpoint", {"step": 1, "uri": inside})
    completed = _follow(api, doc, reported, "completeTrial", {"value": 0.5})
    assert completed[2].body["state"] == "COMPLETED"
    best = _follow(api, doc, completed, "getBestTrials")
    assert [t["trial_id"] for t in best[2].body["trials"]] == [claimed[2].body["trial_id"]]
    _follow(api, doc, completed, "tagTrial", {"tags": {"k": "v"}})
    extended = _follow(api, doc, completed, "extendScan", {"max_run": 5})
    _follow(api, doc, extended, "claimNextTrial", {"worker_id": "w"})
    cancelled = _follow(api, doc, step, "cancelScan")
    assert cancelled[2].body["scan"]["status"] == "CANCELLED"


_GRID = {
    "strategy": "grid",
    "max_run": 2,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3]}},
}
