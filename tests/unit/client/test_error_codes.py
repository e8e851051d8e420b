"""One error tree, one wire schema: every ErrorCode is the code of exactly one class, with
one status; an error the service raises comes back out of the SDK as the very same class;
the API and the SDK answer and parse the same model objects."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
import scanfleet
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from scanfleet import wire
from scanfleet.api import build_app
from scanfleet.client._errors import ERROR_CLASSES, ClientErrorCode, _make_status_error
from scanfleet.config import ConfigError, ConfigProblem
from scanfleet.errors import APIStatusError, ConflictError, ScanfleetError
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore
from scanfleet.wire import ErrorCode

from tests.unit.api.conftest import Api, gateway_event


def _every_module() -> list[str]:
    """Every module of the package (its error classes and models are then all defined)."""
    names = [scanfleet.__name__]
    for info in pkgutil.walk_packages(scanfleet.__path__, prefix="scanfleet."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    return names


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@pytest.fixture(scope="module")
def declared() -> dict[str, list[type[ScanfleetError]]]:
    """code → the classes whose own body says ``code = ...`` (an alias is one class)."""
    _every_module()
    by_code: dict[str, list[type[ScanfleetError]]] = {}
    for cls in set(_subclasses(ScanfleetError)):
        if "code" in vars(cls) and cls.__module__.startswith("scanfleet."):
            by_code.setdefault(str(vars(cls)["code"]), []).append(cls)
    return by_code


def test_every_error_code_is_the_code_of_exactly_one_class(
    declared: dict[str, list[type[ScanfleetError]]],
) -> None:
    for code in ErrorCode:
        classes = declared.get(code.value, [])
        assert len(classes) == 1, (code, classes)
        (cls,) = classes
        assert issubclass(cls, APIStatusError) and 400 <= cls.status <= 599, cls
        assert ERROR_CLASSES[code] is cls, code  # the SDK's one table agrees
    wire_codes = {c.value for c in ErrorCode} | {c.value for c in ClientErrorCode}
    assert set(declared) <= wire_codes, set(declared) - wire_codes  # no stray bare string


def test_every_code_in_the_tree_is_an_enum_member(
    declared: dict[str, list[type[ScanfleetError]]],
) -> None:
    for classes in declared.values():
        for cls in classes:
            assert isinstance(vars(cls)["code"], ErrorCode | ClientErrorCode), cls


def test_one_status_per_code_and_the_sdk_table_covers_every_code() -> None:
    assert set(ERROR_CLASSES) == set(ErrorCode)
    statuses = {code: cls.status for code, cls in ERROR_CLASSES.items()}
    assert statuses[ErrorCode.LEASE_LOST] == 409 and statuses[ErrorCode.STORE_BUSY] == 503
    assert statuses[ErrorCode.INVALID_CONFIG] == 400 and statuses[ErrorCode.SCAN_FINISHED] == 410


def _raised(cls: type[ScanfleetError]) -> ScanfleetError:
    """The error as the service raises it."""
    if cls is ConfigError:
        return ConfigError([ConfigProblem("metric.goal", "maximize or minimize")])
    return cls("what happened", details={"trial_id": "t-1"})


@pytest.fixture
def raising_app(tmp_path: Any) -> APIGatewayRestResolver:
    """The real resolver, with one more route that raises the error a code names."""
    app = build_app(ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db")))

    @app.get("/raise/<code>")
    def raise_it(code: str) -> dict[str, Any]:
        raise _raised(ERROR_CLASSES[ErrorCode(code)])

    return app


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_a_server_error_comes_back_out_of_the_sdk_as_the_same_class(
    raising_app: APIGatewayRestResolver, code: ErrorCode
) -> None:
    cls = ERROR_CLASSES[code]
    sent = _raised(cls)
    answer = Api(raising_app, "tok-owner").resolve(
        gateway_event("GET", f"/raise/{code.value}", owner="tok-owner")
    )
    assert answer.status == cls.status and answer.code == code.value

    error = _make_status_error(answer.status, answer.body, answer.headers)
    assert type(error) is cls
    assert error.code == code and isinstance(error.code, ErrorCode)
    assert error.status == error.status_code == cls.status
    assert error.api_message == sent.api_message and error.details == sent.details
    if cls is ConfigError:
        assert error.problems == sent.problems  # type: ignore[attr-defined]


def test_an_unknown_code_falls_back_to_the_class_of_its_status() -> None:
    body = {"error": {"code": "a_newer_conflict", "message": "m"}}
    error = _make_status_error(409, body)
    assert type(error) is ConflictError and error.code == "a_newer_conflict"
    lease = {"error": {"code": "lease_lost", "message": "m"}}
    assert type(_make_status_error(500, lease)).__name__ == "InternalServerError"  # wrong status


def test_the_api_and_the_sdk_use_the_same_model_objects() -> None:
    from scanfleet.api import _models as api_models
    from scanfleet.client import ScanSummary as ClientScanSummary
    from scanfleet.client import _client, _scan
    from scanfleet.service import ScanSummary as ServiceScanSummary

    assert ClientScanSummary is ServiceScanSummary is api_models.ScanSummary is wire.ScanSummary
    assert _scan.TrialList is api_models.TrialList is wire.TrialList
    assert _scan.IntermediateValues is api_models.IntermediateValues is wire.IntermediateValues
    assert _client.ScanList is api_models.ScanList is wire.ScanList
    assert api_models.ErrorBody is wire.ErrorBody


def test_no_module_defines_an_answer_model_again() -> None:
    answers = {"ScanSummary", "ScanList", "TrialList", "IntermediateValues", "ErrorBody", "Health"}
    for name in _every_module():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if attr in answers and isinstance(value, type):
                assert value.__module__ == "scanfleet.wire", f"{name}.{attr}"


def test_the_openapi_document_describes_errors_with_the_wire_model(
    raising_app: APIGatewayRestResolver,
) -> None:
    answer = Api(raising_app, "tok-owner").resolve(
        gateway_event("GET", "/openapi.json", owner="tok-owner")
    )
    schemas = answer.body["components"]["schemas"]
    assert {"ErrorBody", "ErrorDetail", "ScanSummary", "TrialList"} <= set(schemas)


def test_the_wire_re_exports_every_name_of_names_and_defines_none_again() -> None:
    from scanfleet import names

    public = {k: v for k, v in vars(names).items() if not k.startswith("_") and k[0].isupper()}
    public = {
        k: v
        for k, v in public.items()
        if getattr(v, "__module__", names.__name__) in (names.__name__, "builtins")
    }
    public["scans_metric"] = names.scans_metric
    for name, value in public.items():
        assert getattr(wire, name) is value, name
        assert name in wire.__all__, name
