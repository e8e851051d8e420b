"""Where things are in the checkout, and how a Lambda handler is named (plain Python: the
layer build imports it without CDK)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK_PACKAGE_DIR = ROOT / "sdk" / "scanfleet"  # staged as `scanfleet/` in the code asset
LAMBDAS_DIR = ROOT / "lambdas"  # staged as `lambdas/` beside it
LAYER_DIR = ROOT / "build" / "lambda-layer"
LAYER_MARKER = "scanfleet-layer.txt"  # written by build_layer once the folder is complete
WORKER_DOCKERFILE = ROOT / "worker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"  # the worker image's build-context excludes


def lambda_handler(module: str, function: str = "handler") -> str:
    """The handler setting of the function whose code is ``lambdas/<module>.py``'s
    ``function``: ``lambda_handler("orchestration", "claim")`` is
    ``"lambdas.orchestration.claim"``. Every Lambda of the stack is named this way."""
    if not module.isidentifier() or not function.isidentifier():
        raise ValueError(f"a handler is a module and a function name, got {module!r}.{function!r}")
    return f"{LAMBDAS_DIR.name}.{module}.{function}"
