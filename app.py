#!/usr/bin/env python3
"""The CDK app: ``npx cdk synth`` / ``npx cdk deploy`` (or ``scanfleet deploy``).

Settings come from CDK context (``-c key=value`` or cdk.json); see docs/deploy.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]  # infra/ and scanfleet/ without an install

from infra.app import build_app  # noqa: E402
from infra.lambdas import LayerNotBuiltError  # noqa: E402
from infra.settings import SettingsError  # noqa: E402

if __name__ == "__main__":
    app = cdk.App()
    try:
        build_app(app, env=os.environ)
    except (LayerNotBuiltError, SettingsError) as error:  # what to do, not a traceback
        sys.exit(f"error: {error}")
    app.synth()
