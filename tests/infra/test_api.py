"""Both ways in reach the same handler: IAM (SigV4) and tokens through the authorizer;
stages are throttled, traced and write access logs."""

from __future__ import annotations

from tests.infra.synth import Synthesised


def _api_ids(synthesised: Synthesised) -> dict[str, str]:
    """RestApi logical id by its description's auth word."""
    return {
        r["Properties"]["Description"].split("(")[1].split()[0]: logical_id
        for logical_id, r in synthesised.resources("AWS::ApiGateway::RestApi").items()
    }


def test_both_auth_modes_by_default_each_method_authorised(synthesised: Synthesised):
    apis = _api_ids(synthesised)
    assert set(apis) == {"iam", "token"}
    methods = synthesised.resources("AWS::ApiGateway::Method").values()
    auth_by_api = {
        (m["Properties"]["RestApiId"]["Ref"], m["Properties"]["AuthorizationType"]) for m in methods
    }
    assert auth_by_api == {(apis["iam"], "AWS_IAM"), (apis["token"], "CUSTOM")}
    assert len(methods) == 4  # ANY / and ANY /{proxy+} on each


def test_token_authorizer_reads_the_authorization_header_and_caches(synthesised: Synthesised):
    authorizer = synthesised.one("AWS::ApiGateway::Authorizer")["Properties"]
    assert authorizer["Type"] == "TOKEN"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["AuthorizerResultTtlInSeconds"] == 300
    [fn] = synthesised.referenced(authorizer["AuthorizerUri"], "AWS::Lambda::Function")
    assert fn["Properties"]["Handler"] == "lambdas.authorizer.handler"


def test_both_apis_proxy_to_the_one_api_handler(synthesised: Synthesised):
    handlers = set()
    for method in synthesised.resources("AWS::ApiGateway::Method").values():
        integration = method["Properties"]["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        [fn] = synthesised.referenced(integration["Uri"], "AWS::Lambda::Function")
        handlers.add(fn["Properties"]["Handler"])
    assert handlers == {"lambdas.api.handler"}


def test_stages_are_throttled_traced_and_access_logged(synthesised: Synthesised):
    stages = synthesised.resources("AWS::ApiGateway::Stage").values()
    assert len(stages) == 2
    for stage in stages:
        props = stage["Properties"]
        assert props["TracingEnabled"] is True
        assert props["MethodSettings"][0]["ThrottlingRateLimit"] == 100
        assert props["MethodSettings"][0]["ThrottlingBurstLimit"] == 200
        access = props["AccessLogSetting"]
        assert access["DestinationArn"]["Fn::GetAtt"][1] == "Arn"
        assert '"status":"$context.status"' in access["Format"]


def test_token_auth_only_makes_one_api_and_workers_get_the_token(synthesised_alt: Synthesised):
    apis = _api_ids(synthesised_alt)
    assert set(apis) == {"token"}
    stage = synthesised_alt.one("AWS::ApiGateway::Stage")["Properties"]
    assert stage["MethodSettings"][0]["ThrottlingRateLimit"] == 20
    assert stage["MethodSettings"][0]["ThrottlingBurstLimit"] == 40
    container = synthesised_alt.one("AWS::Batch::JobDefinition")["Properties"][
        "ContainerProperties"
    ]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["SCANFLEET_AUTH"] == "token"
    assert [s["Name"] for s in container["Secrets"]] == ["SCANFLEET_TOKEN"]


def test_access_logs_come_with_the_accounts_api_gateway_cloudwatch_role(synthesised: Synthesised):
    # a stage with access logs fails to create in a region whose API Gateway has no
    # CloudWatch role: the stack sets one, once for both APIs, kept when it is deleted
    [(account_id, account)] = synthesised.resources("AWS::ApiGateway::Account").items()
    assert account["DeletionPolicy"] == "Retain"
    [role] = synthesised.referenced(account["Properties"]["CloudWatchRoleArn"], "AWS::IAM::Role")
    assert role["DeletionPolicy"] == "Retain"
    [statement] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in str(role["Properties"]["ManagedPolicyArns"])
    for stage in synthesised.resources("AWS::ApiGateway::Stage").values():
        assert "AccessLogSetting" in stage["Properties"]
        assert account_id in stage["DependsOn"]  # the stage logs once the role is set


def test_access_logs_off_leaves_the_account_setting_alone(synthesised_alt: Synthesised):
    assert not synthesised_alt.resources("AWS::ApiGateway::Account")
    stage = synthesised_alt.one("AWS::ApiGateway::Stage")["Properties"]
    assert "AccessLogSetting" not in stage
