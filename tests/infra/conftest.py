"""The CDK app, synthesised once per pytest session and shared by every infra test (and by
the cloud tier: ``tests.infra.synth.synthesise_once``).

``synthesised`` is the default deployment; ``synthesised_alt`` the same app with every
context setting moved off its default, to prove the settings reach the template. Both run
the cdk-nag checks: a synth with an unacknowledged finding fails here.
"""

from __future__ import annotations

import pytest

from tests.infra.synth import ALT_CONTEXT, Synthesised, synthesise_once

__all__ = ["Synthesised"]


@pytest.fixture(scope="session")
def synthesised() -> Synthesised:
    return synthesise_once()


@pytest.fixture(scope="session")
def synthesised_alt() -> Synthesised:
    return synthesise_once(tuple(ALT_CONTEXT.items()))
