"""The HTTP API: one Powertools resolver over an injected ScanService.

The same app serves API Gateway proxy events in Lambda and the local server.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from scanfleet.api._scan_trials import scan_trials_router
from scanfleet.api._scans import scans_router
from scanfleet.api._trials import trials_router
from scanfleet.config import ConfigError
from scanfleet.errors import ScanfleetError
from scanfleet.service import ScanService

logger = logging.getLogger("scanfleet.api")

__all__ = ["build_app", "error_response"]


def error_response(status: int, code: str, message: str, details: Any = None) -> Response[Any]:
    """The one shape of every error the API returns."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return Response(status_code=status, content_type="application/json", body={"error": error})


def build_app(service: ScanService) -> APIGatewayRestResolver:
    """The resolver with every route, errors mapped to HTTP in this one place."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.include_router(scans_router(service))
    app.include_router(scan_trials_router(service))
    app.include_router(trials_router(service))

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(
            status_code=200,
            content_type="application/json",
            body=app.get_openapi_json_schema(title="scanfleet", version="1"),
        )

    @app.exception_handler(ConfigError)
    def config_error(exc: ConfigError) -> Response[Any]:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(ScanfleetError)
    def domain_error(exc: ScanfleetError) -> Response[Any]:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[Any]:
        problems = [
            {
                "path": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", "invalid"),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
        return error_response(400, "invalid_request", summary or "invalid request", problems)

    @app.not_found
    def not_found(exc: RouteNotFound) -> Response[Any]:
        path = app.current_event.path
        return error_response(404, "not_found", f"no route {app.current_event.http_method} {path}")

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")

    return app
