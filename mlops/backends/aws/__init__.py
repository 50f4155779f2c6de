"""The AWS backend: the ports on S3, DynamoDB, the SageMaker Model Registry, Secrets Manager and SNS."""
