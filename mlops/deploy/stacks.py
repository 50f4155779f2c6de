"""The contract of the CloudFormation stacks (infra/cloudformation/): the parameters they take, the outputs they
give and the repository variable each output becomes. Pure data; the templates are tested against it (tests/infra/)."""

from __future__ import annotations

from types import MappingProxyType

# Who may assume the role: the repository, and the branch or environment its workflows run on.
GITHUB_OIDC_TRUST_PARAMETERS = ("GitHubOwner", "GitHubRepo", "GitHubBranch", "GitHubEnvironment",
                                "ExistingOidcProviderArn")
# What the role may touch: the pipeline stack's outputs, passed in so the role stack stands alone.
GITHUB_OIDC_RESOURCE_PARAMETERS = ("StateMachineArn", "RunTableArn", "ReportsBucketName", "ReportsPrefix",
                                   "KmsKeyArn", "ModelPackageGroupPrefix", "AuditBucketName")

# Stack output -> the repository variable the workflows read it from (None: informative only).
GITHUB_OIDC_OUTPUTS = MappingProxyType({
    "RoleArn": "MLOPS_AWS_ROLE_ARN",
    "OidcProviderArn": None,
    "TrustedSubject": None,
})

# The pipeline stack (infra/cloudformation/mlops-pipeline.yml): what the deploy command passes in. The deploy
# command uploads three objects to CodeBucket: the Lambda zip (LambdaCodeKey), the training source bundle
# (TrainingSourceKey) and infra/cloudformation/state-machine.asl.json as it is (StateMachineDefinitionKey; the
# stack fills in its ${...} placeholders). CloudFormation only notices new code or a new definition when the key
# changes, so each key should name its content (e.g. a digest of the bytes in it).
# The template itself (about 64 KB) is over CloudFormation's 51,200-byte limit for a TemplateBody: upload it to
# CodeBucket too and pass TemplateURL (moto accepts either; AWS refuses the body).
PIPELINE_PARAMETERS = ("GitHubRepository", "CodeBucket", "LambdaCodeKey", "TrainingSourceKey",
                       "StateMachineDefinitionKey", "TrainingInstanceType", "NotificationEmail", "CreateCloudTrail",
                       "AuditRetentionDays", "ManageSageMakerLogGroup")

# Stack output -> the repository variable the workflows read it from (None: informative only). Every one of
# GITHUB_OIDC_RESOURCE_PARAMETERS is also an output here, under the same name: the OIDC stack is deployed with
# the pipeline stack's outputs as its parameters.
PIPELINE_OUTPUTS = MappingProxyType({
    "StateMachineArn": "MLOPS_STATE_MACHINE_ARN",
    "ArtifactBucketName": "MLOPS_BUCKET",
    "RunTableName": "MLOPS_RUN_TABLE",
    "KmsKeyArn": "MLOPS_KMS_KEY_ID",
    "Region": "MLOPS_AWS_REGION",
    "RunTableArn": None,
    "ReportsBucketName": None,
    "ReportsPrefix": None,
    "ModelPackageGroupPrefix": "MLOPS_MODEL_PACKAGE_GROUP_PREFIX",
    "SageMakerRoleArn": None,
    "AuditBucketName": "MLOPS_AUDIT_BUCKET",
    "GitHubTokenSecretArn": None,
    "SlackUrlSecretArn": None,
    "TopicArn": None,
})
