"""The resolver: every route, and every error mapped to HTTP in this one place."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as NoRouteError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import ValidationError

from scanfleet.api._identity import identity_of
from scanfleet.api._json_body import parse_json_body
from scanfleet.api._models import invalid_request
from scanfleet.api._openapi import openapi_document
from scanfleet.api._scans import scans_router
from scanfleet.api._search import search_router
from scanfleet.api._trials import trials_router
from scanfleet.api._worker_tokens import TrialKey, worker_tokens_router
from scanfleet.errors import (
    InternalServerError,
    MethodNotAllowedError,
    NotFoundError,
    ScanfleetError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from scanfleet.service import ScanService
from scanfleet.wire import Health

logger = logging.getLogger("scanfleet.api")


def error_response(
    error: ScanfleetError, *, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    """The one place an error becomes HTTP: its class's status, and the one shape of every
    error, ``{"error": {"code", "message", "details"}}``."""
    body = {"code": str(error.code), "message": error.api_message, "details": error.details}
    return Response(
        status_code=error.status,
        content_type="application/json",
        body={"error": body},
        headers=headers,
    )


def build_app(service: ScanService, trial_key: TrialKey | None = None) -> APIGatewayRestResolver:
    """The HTTP API over ``service``: one resolver for Lambda and the local server alike.

    Nothing is built here but routes: the service (and its store) comes from the caller's
    composition root; ``trial_key``, the key per-trial worker tokens are signed with.
    """
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    app.include_router(scans_router(service))
    app.include_router(trials_router(service))
    app.include_router(search_router(service))
    app.include_router(worker_tokens_router(service, trial_key))

    @app.get(
        "/health",
        operation_id="health",
        summary="Liveness (no identity needed)",
        tags=["meta"],
        responses={200: {"description": "OK", "content": {"application/json": {"model": Health}}}},
    )
    def health() -> dict[str, str]:
        return {"status": "ok"}

    document: list[str] = []  # built on first request: the routes are all known by then

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[str]:
        if not document:
            document.append(openapi_document(app))
        return Response(status_code=200, content_type="application/json", body=document[0])

    _map_errors(app)
    return app


def _map_errors(app: APIGatewayRestResolver) -> None:
    """Domain errors carry their status and code; everything else is translated here."""

    @app.exception_handler(ScanfleetError)
    def domain_error(exc: ScanfleetError) -> Response[dict[str, Any]]:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    def invalid_body_or_query(exc: RequestValidationError) -> Response[dict[str, Any]]:
        early = _unauthorized_or_not_json(app)
        if early is not None:
            return early
        return error_response(invalid_request([_problem(err) for err in exc.errors()]))

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_content_type(exc: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return _unauthorized_or_not_json(app) or _not_json()

    @app.exception_handler(ValidationError)
    def invalid_value(exc: ValidationError) -> Response[dict[str, Any]]:
        logger.warning("a value from the request failed validation", exc_info=exc)
        return error_response(invalid_request([_problem(err) for err in exc.errors()]))

    @app.not_found
    def no_route(exc: NoRouteError) -> Response[dict[str, Any]]:
        event = app.current_event
        method, path = event.http_method.upper(), event.path
        allowed = _methods_for(app, path)
        if allowed:
            message = f"{method} is not allowed on {path}; use {', '.join(allowed)}"
            return error_response(
                MethodNotAllowedError(message, details={"allowed": allowed}),
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(NotFoundError(f"no route {method} {path}"))

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[dict[str, Any]]:
        # a body in another format, or bytes that are not text, can break Powertools'
        # parsers before validation
        if isinstance(exc, ValueError):
            refused = _unauthorized_or_not_json(app)
            if refused is not None:
                return refused
            if isinstance(exc, UnicodeDecodeError):
                not_text = {"path": "body", "message": "not UTF-8 text"}
                return error_response(invalid_request([not_text]))
        request_id = (app.current_event.raw_event.get("requestContext") or {}).get("requestId")
        logger.exception("unhandled error (request %s)", request_id)
        internal = InternalServerError("internal error", details={"request_id": request_id})
        return error_response(internal)


def _not_json() -> Response[dict[str, Any]]:
    message = "send the body as JSON (Content-Type: application/json)"
    return error_response(UnsupportedMediaTypeError(message))


def _unauthorized_or_not_json(app: APIGatewayRestResolver) -> Response[dict[str, Any]] | None:
    """A request the API refuses before looking at its content: no identity (401: the
    caller learns nothing about its body), or a body that is not JSON (415)."""
    if identity_of(app.current_event.raw_event) is None:
        return error_response(UnauthorizedError("missing or invalid credentials"))
    if not _is_json(app):
        return _not_json()
    return None


def _is_json(app: APIGatewayRestResolver) -> bool:
    """The rule Powertools parses bodies by: no content type, or application/json."""
    content_type = app.current_event.headers.get("content-type") or ""
    return not content_type.strip() or content_type.strip().startswith("application/json")


_NOT_AN_OBJECT = frozenset({"missing", "model_attributes_type", "model_type", "dict_type"})


def _problem(err: Any) -> dict[str, str]:
    """One validation error as ``{path, message}``: the path is the location then the
    field (``body.worker_id``, ``query.status``, ``body`` for the body as a whole)."""
    loc: Sequence[Any] = err.get("loc") or ()
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "json_invalid":
        at = f" at position {loc[1]}" if len(loc) > 1 else ""
        return {"path": "body", "message": f"not valid JSON ({ctx.get('error', 'invalid')}{at})"}
    path = ".".join(str(part) for part in loc) or "body"
    if path == "body" and kind in _NOT_AN_OBJECT:
        return {"path": path, "message": "a JSON object is required"}
    message = str(ctx["error"]) if kind == "value_error" and "error" in ctx else err.get("msg")
    return {"path": path, "message": message or "invalid"}


def _methods_for(app: APIGatewayRestResolver, path: str) -> list[str]:
    """The methods of the routes that match ``path`` (for 405 and its Allow header).
    Powertools keeps its routes in private lists; a test pins this behaviour."""
    routes = [*getattr(app, "_static_routes", ()), *getattr(app, "_dynamic_routes", ())]
    return sorted({route.method for route in routes if route.rule.match(path)})
