"""The synthesised template passes cfn-lint and cdk-nag; the pinned CDK CLI synthesises
the app offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from infra import nag
from tests.infra.synth import Synthesised

ROOT = Path(__file__).resolve().parents[2]


def test_cfn_lint_finds_nothing(synthesised: Synthesised, synthesised_alt: Synthesised):
    templates = [
        str(synth.outdir / f"{synth.stack.stack_name}.template.json")
        for synth in (synthesised, synthesised_alt)
    ]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--",
         *templates],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_cdk_nag_has_no_unacknowledged_finding(synthesised: Synthesised):
    # the synth itself fails on a finding that is not acknowledged (a validation plugin):
    # getting here means none is left, and the report says so
    report = json.loads((synthesised.outdir / "validation-report.json").read_text())
    [plugin] = report["pluginReports"]
    assert (plugin["pluginName"], plugin["conclusion"]) == ("AwsSolutions", "success")
    assert plugin["violations"] == []


def test_every_acknowledgment_gives_a_reason():
    tables = [v for k, v in vars(nag).items() if k.isupper() and isinstance(v, dict)]
    tables.append(nag.scan_control("scanfleet-scans"))
    for table in tables:
        for rule, reason in table.items():
            assert rule.startswith("AwsSolutions-"), rule
            assert len(reason) > 30, rule


def test_the_pinned_cdk_cli_reads_the_synthesised_app_offline(synthesised: Synthesised):
    """The npm CLI and the Python library must agree on the cloud assembly schema (an old
    CLI rejects a new assembly): the pinned CLI reads the session's synth output."""
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert pinned[0].isdigit() and tuple(map(int, pinned.split("."))) >= (2, 1148, 1)
    cdk = ROOT / "node_modules" / ".bin" / "cdk"
    assert cdk.exists(), "run `npm ci` at the repository root (installs the pinned CDK CLI)"
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1"}
    version = subprocess.run(
        [str(cdk), "--version"], capture_output=True, text=True, timeout=60, env=env
    )
    assert version.stdout.startswith(pinned)
    result = subprocess.run(
        [str(cdk), "synth", "--no-notices", "--app", str(synthesised.outdir),
         synthesised.stack.stack_name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Type: AWS::Batch::JobDefinition" in result.stdout


def test_every_acknowledgment_is_of_a_real_finding(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    reasons: dict[str, set[str]] = {}
    for synth in (synthesised, synthesised_alt):  # some findings are of one setting only
        report = json.loads((synth.outdir / "validation-report.json").read_text())
        for finding in report["pluginReports"][0]["suppressedViolations"]:
            reasons.setdefault(finding["ruleName"], set()).add(finding["reason"])
    tables = [v for k, v in vars(nag).items() if k.isupper() and isinstance(v, dict)]
    tables.append(nag.scan_control(f"{synthesised.stack.stack_name}-scans"))
    for table in tables:
        for rule, reason in table.items():
            assert reason in reasons.get(rule, set()), f"{rule} acknowledged but never found"
