"""Stateful data: the single DynamoDB table, the media bucket and the KMS key for secrets."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge
from playout import resources

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


def media_bucket_name(stage: str) -> str:
    """A deterministic name built from pseudo parameters only.

    The SPA's Content-Security-Policy (web construct) must name the media bucket's host, and the media
    bucket's CORS rule names the CloudFront domain: referencing the bucket resource from the CSP would
    close a dependency cycle, a name made of `AWS::AccountId`/`AWS::Region` does not.
    """
    return Fn.join("-", ["playout", stage, "media", Aws.ACCOUNT_ID, Aws.REGION])


class DataStore(Construct):
    """DynamoDB table (keys and TTL from `playout.resources`), media bucket and the secrets key."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, access_log_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = self._build_table()
        self.media_bucket = self._build_media_bucket(stage, access_log_bucket)
        self.secrets_key = self._build_secrets_key()

    def _build_table(self) -> dynamodb.Table:
        attribute_types = {
            a["AttributeName"]: a["AttributeType"] for a in resources.table_attribute_definitions()
        }
        keys = {k["KeyType"]: k["AttributeName"] for k in resources.table_key_schema()}
        table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=keys["HASH"], type=_ATTRIBUTE_TYPES[attribute_types[keys["HASH"]]]
            ),
            sort_key=dynamodb.Attribute(
                name=keys["RANGE"], type=_ATTRIBUTE_TYPES[attribute_types[keys["RANGE"]]]
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=resources.TABLE_TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in resources.table_global_secondary_indexes():
            (key,) = index["KeySchema"]
            table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=dynamodb.Attribute(
                    name=key["AttributeName"], type=_ATTRIBUTE_TYPES[attribute_types[key["AttributeName"]]]
                ),
                projection_type=dynamodb.ProjectionType[index["Projection"]["ProjectionType"]],
                non_key_attributes=index["Projection"]["NonKeyAttributes"],
            )
        return table

    def _build_media_bucket(self, stage: str, access_log_bucket: s3.IBucket) -> s3.Bucket:
        return s3.Bucket(
            self,
            "MediaBucket",
            bucket_name=media_bucket_name(stage),
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="media/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=rule["ID"],
                    abort_incomplete_multipart_upload_after=Duration.days(
                        rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
                    ),
                )
                for rule in resources.media_bucket_lifecycle_rules()
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _build_secrets_key(self) -> kms.Key:
        return kms.Key(
            self,
            "SecretsKey",
            description="Playout: envelope for stream keys and OAuth tokens",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def allow_browser_uploads_from(self, allowed_origins: list[str]) -> None:
        """Add the CORS rule of `playout.resources` (presigned multipart PUTs that read each part's ETag)."""
        for rule in resources.media_bucket_cors_rules(allowed_origins):
            self.media_bucket.add_cors_rule(
                allowed_origins=rule["AllowedOrigins"],
                allowed_methods=[s3.HttpMethods(method) for method in rule["AllowedMethods"]],
                allowed_headers=rule["AllowedHeaders"],
                exposed_headers=rule["ExposeHeaders"],
                max_age=rule["MaxAgeSeconds"],
            )


class AccessLogBucket(Construct):
    """Destination of S3 server access logs and CloudFront standard logs."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # CloudFront standard logging writes with ACLs, so the bucket cannot enforce bucket-owner.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "S1",
            "This is the access-log bucket itself; logging it into itself would loop and another log bucket "
            "would only move the question.",
        )
