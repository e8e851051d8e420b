"""Where things are in the checkout (plain Python: the layer build imports it without CDK)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "build" / "lambda-layer"
LAYER_MARKER = "scanfleet-layer.txt"  # written by build_layer once the folder is complete
WORKER_DOCKERFILE = ROOT / "worker" / "Dockerfile"
