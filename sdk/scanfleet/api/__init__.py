"""The HTTP API: one Powertools resolver over an injected ScanService.

``build_app(service)`` serves API Gateway REST proxy events: in Lambda (``lambdas/api.py``)
and behind the local server (``scanfleet.local.server``), with the same routes and errors.
The wire contract is docs/api.md.
"""

from scanfleet.api._app import build_app
from scanfleet.api._identity import identity_of
from scanfleet.errors import AlreadyClaimedError, UnauthorizedError

__all__ = ["AlreadyClaimedError", "UnauthorizedError", "build_app", "identity_of"]
