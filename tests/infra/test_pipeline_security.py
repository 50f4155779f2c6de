"""GIVEN infra/cloudformation/mlops-pipeline.yml, THEN its storage is private, encrypted with the stack's key and
reachable over TLS only; the artifact bucket keeps at least 5 noncurrent versions of every object; the audit
bucket locks its objects in COMPLIANCE mode; every log source has a 90-day, KMS-encrypted log group; failures
raise alarms to the topic; the trail validates its log files and can be switched off; and the IAM roles grant
each part only what docs/aws.md lists for it (a Resource "*" only where IAM offers no resource type).
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from tests.infra.pipeline_template import (
    as_list,
    asl_functions,
    get_att,
    policy_statements,
    properties,
    resources,
    statements,
    template,
)

BUCKETS = ("ArtifactBucket", "AuditBucket", "LogBucket")
KMS_BUCKETS = ("ArtifactBucket", "AuditBucket")
# The only calls granted on Resource "*", each because IAM defines no resource type for it.
UNSCOPED_ACTIONS = {
    "sagemaker:ListModelPackages",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",  # limited by its cloudwatch:namespace condition instead
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}


def bucket_policy(bucket: str) -> list[dict[str, Any]]:
    (policy,) = [body["Properties"] for body in resources("AWS::S3::BucketPolicy").values()
                 if body["Properties"]["Bucket"] == {"Ref": bucket}]
    return statements(policy["PolicyDocument"])


def bucket_arns(bucket: str) -> dict[str, Any]:
    return {"bucket": {"Fn::GetAtt": [bucket, "Arn"]}, "objects": {"Fn::Sub": f"${{{bucket}.Arn}}/*"}}


def denied(policy: list[dict[str, Any]], action: str, resource: Any, secure_transport: bool) -> bool:
    """Does an explicit Deny of this bucket policy apply to the request? (Bool conditions only; others raise.)"""
    for statement in policy:
        if statement["Effect"] != "Deny" or statement.get("Principal") != "*":
            continue
        applies = resource in as_list(statement["Resource"]) and any(
            fnmatch.fnmatch(action, pattern) for pattern in as_list(statement["Action"]))
        if applies and _conditions_hold(statement.get("Condition", {}), {"aws:SecureTransport": secure_transport}):
            return True
    return False


def _conditions_hold(condition: dict[str, Any], context: dict[str, bool]) -> bool:
    if set(condition) - {"Bool"}:
        raise AssertionError(f"only Bool conditions are evaluated here: {condition}")
    return all(str(context[key]).lower() == str(value).lower() for key, value in condition.get("Bool", {}).items())


@pytest.mark.parametrize("bucket", BUCKETS)
@pytest.mark.parametrize("action", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"])
def test_every_bucket_refuses_requests_without_tls_and_only_those(bucket: str, action: str) -> None:
    policy = bucket_policy(bucket)
    for resource in bucket_arns(bucket).values():
        assert denied(policy, action, resource, secure_transport=False), (bucket, action, resource)
        assert not denied(policy, action, resource, secure_transport=True), (bucket, action, resource)


def test_the_tls_evaluator_is_not_satisfied_by_a_policy_without_the_condition() -> None:
    allow_only = [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn"}]
    assert not denied(allow_only, "s3:GetObject", "arn", secure_transport=False)


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_is_private_versioned_and_owned_by_the_account(bucket: str) -> None:
    bucket_properties = properties(bucket)
    assert set(bucket_properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket_properties["PublicAccessBlockConfiguration"]) == 4
    assert bucket_properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket_properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("bucket", KMS_BUCKETS)
def test_the_data_buckets_encrypt_with_the_stack_s_key_and_log_their_access(bucket: str) -> None:
    (rule,) = properties(bucket)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert get_att(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == ("Key", "Arn")
    assert rule["BucketKeyEnabled"] is True
    assert properties(bucket)["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LogBucket"}


def test_the_log_bucket_accepts_access_logs_under_the_prefix_the_buckets_write_to() -> None:
    service = {"Service": "logging.s3.amazonaws.com"}
    (logging,) = [statement for statement in bucket_policy("LogBucket") if statement.get("Principal") == service]
    granted = logging["Resource"]["Fn::Sub"].removeprefix("${LogBucket.Arn}/")
    for bucket in KMS_BUCKETS:
        assert fnmatch.fnmatch(properties(bucket)["LoggingConfiguration"]["LogFilePrefix"] + "x.log", granted)


def test_the_artifact_bucket_keeps_at_least_five_noncurrent_versions() -> None:
    rules = [rule for rule in properties("ArtifactBucket")["LifecycleConfiguration"]["Rules"]
             if rule["Status"] == "Enabled"]
    expiring = [rule for rule in rules if "NoncurrentVersionExpiration" in rule or "NoncurrentVersionExpirationInDays"
                in rule]
    assert expiring, "no rule: noncurrent versions would be kept forever"
    for rule in expiring:
        assert rule["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] >= 5, rule["Id"]
    assert not any("ExpirationInDays" in rule or "ExpirationDate" in rule for rule in rules), "current objects expire"


def test_the_audit_bucket_locks_every_object_in_compliance_mode_for_the_retention_parameter() -> None:
    audit = properties("AuditBucket")
    assert audit["ObjectLockEnabled"] is True
    assert audit["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": {"Ref": "AuditRetentionDays"}}},
    }
    assert template()["Parameters"]["AuditRetentionDays"]["Default"] == 365


@pytest.mark.parametrize("resource", [*BUCKETS, "RunTable", "Key"])
def test_no_data_goes_with_the_stack_nor_the_key_that_reads_it(resource: str) -> None:
    assert template()["Resources"][resource]["DeletionPolicy"] == "Retain"
    assert template()["Resources"][resource]["UpdateReplacePolicy"] == "Retain"


def test_the_key_rotates_and_lets_only_the_account_and_the_services_that_need_it_use_it() -> None:
    key = properties("Key")
    assert key["EnableKeyRotation"] is True
    principals = [statement["Principal"] for statement in statements(key["KeyPolicy"])]
    accounts = [principal["AWS"]["Fn::Sub"] for principal in principals if "AWS" in principal]
    services = {service["Fn::Sub"] if isinstance(service, dict) else service for principal in principals
                for service in as_list(principal.get("Service", []))}
    assert accounts == ["arn:${AWS::Partition}:iam::${AWS::AccountId}:root"]
    assert services == {"logs.${AWS::Region}.amazonaws.com", "cloudwatch.amazonaws.com", "events.amazonaws.com",
                        "cloudtrail.amazonaws.com"}


@pytest.mark.parametrize("resource,key_property", [
    ("RunTable", None), ("Topic", "KmsMasterKeyId"), ("DeadLetterQueue", "KmsMasterKeyId"),
    ("GitHubTokenSecret", "KmsKeyId"), ("SlackUrlSecret", "KmsKeyId"), ("Trail", "KMSKeyId"),
])
def test_the_table_topic_queue_secrets_and_trail_use_the_stack_s_key(resource: str, key_property: str | None) -> None:
    found = properties(resource)
    value = found["SSESpecification"]["KMSMasterKeyId"] if key_property is None else found[key_property]
    assert get_att(value) == ("Key", "Arn")


def test_the_secrets_hold_no_value_of_the_user_s() -> None:
    for secret in ("GitHubTokenSecret", "SlackUrlSecret"):
        assert properties(secret)["SecretString"].startswith("UNSET")


def log_group_of(group_reference: Any) -> dict[str, Any]:
    return properties(group_reference["Ref"])


def test_every_log_group_keeps_90_days_encrypted_with_the_key() -> None:
    for name, group in resources("AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == 90, name
        assert get_att(group["Properties"]["KmsKeyId"]) == ("Key", "Arn"), name


def test_every_log_source_writes_to_one_of_those_log_groups() -> None:
    for name, function in resources("AWS::Lambda::Function").items():
        assert "RetentionInDays" in log_group_of(function["Properties"]["LoggingConfig"]["LogGroup"]), name
    logging = properties("StateMachine")["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    (destination,) = logging["Destinations"]
    assert get_att(destination["CloudWatchLogsLogGroup"]["LogGroupArn"]) == ("StateMachineLogGroup", "Arn")
    assert properties("StateMachine")["TracingConfiguration"] == {"Enabled": True}
    (training,) = [group for group in resources("AWS::Logs::LogGroup").values()
                   if group["Properties"]["LogGroupName"] == "/aws/sagemaker/TrainingJobs"]
    # one per account and region, so the stack makes it only when asked (ManageSageMakerLogGroup, default false)
    assert training["Condition"] == "ManageTrainingLogGroup"
    assert template()["Conditions"]["ManageTrainingLogGroup"] == {
        "Fn::Equals": [{"Ref": "ManageSageMakerLogGroup"}, "true"]}
    assert template()["Parameters"]["ManageSageMakerLogGroup"]["Default"] == "false"


def test_a_failed_execution_and_every_lambda_s_errors_raise_an_alarm_to_the_topic() -> None:
    alarms = [body["Properties"] for body in resources("AWS::CloudWatch::Alarm").values()]
    assert all(alarm["AlarmActions"] == [{"Ref": "Topic"}] for alarm in alarms)
    watched = {dimension["Value"]["Ref"] for alarm in alarms if alarm.get("MetricName") == "Errors"
               for dimension in alarm["Dimensions"]}
    assert watched == set(resources("AWS::Lambda::Function"))
    executions = [metric["MetricStat"]["Metric"] for alarm in alarms for metric in alarm.get("Metrics", [])
                  if "MetricStat" in metric]
    assert {"Namespace": "AWS/States", "MetricName": "ExecutionsFailed",
            "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": "StateMachine"}}]} in executions


def test_the_trail_validates_its_files_and_is_switched_by_create_cloud_trail() -> None:
    trail = template()["Resources"]["Trail"]
    assert trail["Condition"] == "CreateTrail"
    assert template()["Conditions"]["CreateTrail"] == {"Fn::Equals": [{"Ref": "CreateCloudTrail"}, "true"]}
    assert template()["Parameters"]["CreateCloudTrail"]["AllowedValues"] == ["true", "false"]
    assert trail["Properties"]["EnableLogFileValidation"] is True
    assert trail["Properties"]["IsLogging"] is True


def test_training_job_state_changes_reach_the_progress_lambda() -> None:
    rule = properties("TrainingJobStateRule")
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Training Job State Change"],
        "detail": {"Tags": {"mlops:repository": [{"Ref": "GitHubRepository"}]}},
    }
    (target,) = rule["Targets"]
    function, _ = get_att(target["Arn"])
    assert properties(function)["Handler"] == "mlops.handlers.progress"
    assert get_att(target["DeadLetterConfig"]["Arn"]) == ("DeadLetterQueue", "Arn")
    (permission,) = resources("AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == {"Ref": function}
    assert get_att(permission["Properties"]["SourceArn"]) == ("TrainingJobStateRule", "Arn")


# ---- IAM

def all_role_statements() -> list[tuple[str, dict[str, Any]]]:
    return [(role, statement) for role in resources("AWS::IAM::Role") for statement in policy_statements(role)]


def test_no_role_may_do_everything_to_a_service() -> None:
    for role, statement in all_role_statements():
        assert not any(action == "*" or action.endswith(":*") for action in as_list(statement["Action"])), role


def test_resource_star_is_granted_only_for_calls_iam_cannot_scope() -> None:
    unscoped = {action for _, statement in all_role_statements() if "*" in as_list(statement["Resource"])
                for action in as_list(statement["Action"])}
    assert unscoped == UNSCOPED_ACTIONS


def test_the_state_machine_may_invoke_exactly_the_agents() -> None:
    (invoke,) = [s for s in policy_statements("StateMachineRole") if s["Action"] == "lambda:InvokeFunction"]
    agents = {get_att(properties("StateMachine")["DefinitionSubstitutions"][f"{c}FunctionArn"])[0]
              for c in asl_functions()}
    arns = {get_att(arn)[0] for arn in invoke["Resource"] if "Fn::GetAtt" in arn}
    versions = {arn["Fn::Sub"] for arn in invoke["Resource"] if "Fn::Sub" in arn}
    assert arns == agents
    assert versions == {f"${{{agent}.Arn}}:*" for agent in agents}


def test_the_state_machine_passes_only_the_training_role_and_only_to_sagemaker() -> None:
    (passing,) = [s for s in policy_statements("StateMachineRole") if "iam:PassRole" in as_list(s["Action"])]
    assert get_att(passing["Resource"]) == ("SageMakerRole", "Arn")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_the_state_machine_runs_training_jobs_through_the_sync_rule_only() -> None:
    granted = {action: statement["Resource"] for statement in policy_statements("StateMachineRole")
               for action in as_list(statement["Action"])}
    for action in ("sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                   "sagemaker:AddTags"):
        assert granted[action]["Fn::Sub"].endswith(":training-job/*"), action
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        assert granted[action]["Fn::Sub"].endswith(":rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule")


def test_the_training_role_reaches_only_its_bucket_prefixes_the_source_bundle_and_the_key() -> None:
    resources_by_action: dict[str, list[Any]] = {}
    for statement in policy_statements("SageMakerRole"):
        for action in as_list(statement["Action"]):
            resources_by_action.setdefault(action, []).extend(as_list(statement["Resource"]))
    writes = [resource["Fn::Sub"] for resource in resources_by_action["s3:PutObject"]]
    assert writes == ["${ArtifactBucket.Arn}/runs/*"]
    reads = {str(resource) for resource in resources_by_action["s3:GetObject"]}
    assert all("ArtifactBucket" in read or "${CodeBucket}/${TrainingSourceKey}" in read for read in reads)
    assert all(get_att(key) == ("Key", "Arn") for action, found in resources_by_action.items()
               if action.startswith("kms:") for key in found)
    trust = statements(properties("SageMakerRole")["AssumeRolePolicyDocument"])
    assert [statement["Principal"] for statement in trust] == [{"Service": "sagemaker.amazonaws.com"}]


def test_the_agents_reach_the_registry_only_under_this_stack_s_group_prefix() -> None:
    (registry,) = [s for s in policy_statements("FunctionRole") if s.get("Sid") == "ThisStacksModelRegistry"]
    prefix = template()["Outputs"]["ModelPackageGroupPrefix"]["Value"]
    for resource in registry["Resource"]:
        pattern, variables = resource["Fn::Sub"]
        assert pattern.endswith("/${Prefix}*") and variables == {"Prefix": prefix}
    # ...and name their groups with that same prefix (sagemaker_registry.group_name)
    functions = [r for r in template()["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions and all(f["Properties"]["Environment"]["Variables"]["MLOPS_MODEL_PACKAGE_GROUP_PREFIX"] == prefix
                             for f in functions)


def test_the_agents_read_only_the_two_secrets_and_publish_only_to_the_topic() -> None:
    granted = {action: as_list(statement["Resource"]) for statement in policy_statements("FunctionRole")
               for action in as_list(statement["Action"])}
    assert granted["secretsmanager:GetSecretValue"] == [{"Ref": "GitHubTokenSecret"}, {"Ref": "SlackUrlSecret"}]
    assert granted["sns:Publish"] == [{"Ref": "Topic"}]
    assert not [action for action in granted if action.startswith(("iam:", "states:", "s3:DeleteBucket"))]
    assert "s3:DeleteObject" not in {a for s in policy_statements("FunctionRole") if "AuditBucket" in str(s["Resource"])
                                     for a in as_list(s["Action"])}
