"""Deploying to AWS: what the CloudFormation templates (infra/cloudformation/) and the code that deploys them
and reads their outputs agree on."""
