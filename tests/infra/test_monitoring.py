"""Dashboard and alarms read the metrics the Lambdas emit and the state machine's own."""

from __future__ import annotations

import json

from scanfleet import names
from scanfleet.records import ScanStatus

from tests.infra.synth import Synthesised


def _widgets(synthesised: Synthesised) -> dict[str, list[list[str]]]:
    """Widget title → its metrics (each ``[namespace, name, ...]``); the body is an
    Fn::Join of JSON text and tokens, which become "TOKEN" here."""
    body = synthesised.one("AWS::CloudWatch::Dashboard")["Properties"]["DashboardBody"]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in body["Fn::Join"][1])
    return {
        w["properties"]["title"]: w["properties"].get("metrics", [])
        for w in json.loads(text)["widgets"]
    }


def _names_in(metrics: list[list[str]]) -> set[str]:
    return {m[1] for m in metrics if len(m) > 1 and m[0] != "..."}


def test_dashboard_graphs_scans_trials_spot_claims_and_errors(synthesised: Synthesised):
    widgets = _widgets(synthesised)
    by_title = {title.split(" (")[0]: _names_in(metrics) for title, metrics in widgets.items()}
    assert by_title["Scans by status"] == {names.scans_metric(s.value) for s in ScanStatus}
    assert by_title["State machine executions"] == {
        "ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsAborted"
    }  # fmt: skip
    assert by_title["State machine failures"] == {"ExecutionsFailed", "ExecutionsTimedOut"}
    assert by_title["Trials"] == {
        m.value for m in (
            names.Metric.TRIALS_STARTED, names.Metric.TRIALS_COMPLETED,
            names.Metric.TRIALS_FAILED, names.Metric.TRIALS_PRUNED,
        )
    }  # fmt: skip
    assert by_title["Spot interruptions and stale trials"] == {
        names.Metric.SPOT_INTERRUPTIONS.value, names.Metric.STALE_TRIALS.value
    }  # fmt: skip
    assert by_title["Claim latency"] == {names.Metric.CLAIM_LATENCY.value}
    assert by_title["Lambda errors"] == {"Errors"}
    assert "Alarms" in by_title
    trials = widgets["Trials"]
    assert all(
        m[0] == names.METRICS_NAMESPACE and m[2:4] == ["service", names.METRICS_SERVICE]
        for m in trials
    )


def _alarms(synthesised: Synthesised) -> dict[str, dict]:
    return {
        r["Properties"]["AlarmDescription"]: r["Properties"]
        for r in synthesised.resources("AWS::CloudWatch::Alarm").values()
    }


def test_alarms_on_failed_executions_lambda_errors_and_stale_trials(synthesised: Synthesised):
    alarms = _alarms(synthesised)
    assert len(alarms) == 4  # and the dead-letter queues' (tests/infra/test_checkov.py)
    failed = next(a for d, a in alarms.items() if "execution failed" in d)
    assert failed["MetricName"] == "ExecutionsFailed" and failed["Namespace"] == "AWS/States"
    stale = next(a for d, a in alarms.items() if "lease expired" in d)
    assert stale["MetricName"] == names.Metric.STALE_TRIALS.value
    assert stale["Namespace"] == names.METRICS_NAMESPACE
    errors = next(a for d, a in alarms.items() if "Lambda" in d)
    error_metrics = [q for q in errors["Metrics"] if "MetricStat" in q]
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in error_metrics} == {"Errors"}
    functions = [
        r for r in synthesised.resources("AWS::Lambda::Function").values()
        if r["Properties"]["Handler"].startswith("lambdas.")
    ]  # fmt: skip
    assert len(error_metrics) == len(functions)  # every one of our functions is watched
    for alarm in alarms.values():
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert len(alarm["AlarmActions"]) == 1  # the SNS topic


def test_alarm_topic_is_tls_only_and_mails_the_operator_when_asked(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    assert not synthesised.resources("AWS::SNS::Subscription")
    subscription = synthesised_alt.one("AWS::SNS::Subscription")["Properties"]
    assert subscription == {**subscription, "Protocol": "email", "Endpoint": "ops@example.com"}
    policy = synthesised.one("AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


def test_cloudwatch_alarms_may_publish_to_the_tls_only_topic_from_this_account_only(
    synthesised: Synthesised,
):
    # enforce_ssl's topic policy replaces SNS's default one: without an Allow for CloudWatch
    # the alarm e-mails would never be sent
    policy = synthesised.one("AWS::SNS::TopicPolicy")["Properties"]
    statements = policy["PolicyDocument"]["Statement"]
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    [topic] = synthesised.referenced(policy["Topics"], "AWS::SNS::Topic")
    assert synthesised.referenced(allow["Resource"], "AWS::SNS::Topic") == [topic]
    assert [s["Effect"] for s in statements].count("Deny") == 1  # the TLS Deny stays
