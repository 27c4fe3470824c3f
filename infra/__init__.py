"""The hstcr CDK app: the lake (S3, Glue, Athena), the Lambda functions, the Step Functions workflow."""
