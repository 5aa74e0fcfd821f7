"""Buckets: KMS-encrypted, TLS-only, public access blocked, versioned, access-logged."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


# S3 keeps the parts of an upload that never completed, billed, until it is aborted; a lifecycle
# rule does that (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpu-abort-incomplete-mpu-lifecycle-config.html).
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)


class SecureBucket(s3.Bucket):
    """An S3 bucket with judgeflow's secure defaults.

    Defaults (each overridable only by writing a new construct, on purpose):
    - SSE-KMS with the given customer key and S3 Bucket Keys (fewer KMS calls);
    - `enforce_ssl`: a bucket policy denies any request without TLS (min TLS 1.2);
    - all public access blocked, object ownership enforced (no ACLs);
    - versioned, so an overwritten or deleted object can be recovered;
    - server access logs to the given log bucket under `<id>/`;
    - incomplete multipart uploads (an interrupted upload of a large dataset) aborted after a week:
      their parts are billed as storage until then and no listing of objects shows them;
    - RETAIN on stack deletion: data outlives the stack.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, access_logs: s3.IBucket,
                 event_bridge_enabled: bool = False,
                 noncurrent_version_days: int = 90) -> None:
        super().__init__(
            scope,
            construct_id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{construct_id}/",
            event_bridge_enabled=event_bridge_enabled,
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                                              abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER)],
            removal_policy=RemovalPolicy.RETAIN,
        )


class Storage(Construct):
    """The KMS key, the access-log bucket and the three data buckets.

    - `datasets`: the drop zone (`incoming/`), originals kept, `rejected/` reports; EventBridge on.
    - `work`: staged input, recipes and judge job output (`runs/<run_id>/...`); EventBridge on.
    - `metrics`: the Parquet lake, reports and Athena query results.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(self, "DataKey", enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN,
                           description="judgeflow: encrypts datasets, job data, metrics and the run registry")
        # Access-log targets cannot use SSE-KMS (S3 log delivery does not support it): SSE-S3.
        # Log delivery is granted by a bucket policy (cdk.json flag serverAccessLogsUseBucketPolicy), no ACLs.
        self.access_logs = s3.Bucket(
            self, "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365),
                                              abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.datasets = SecureBucket(self, "Datasets", key=self.key, access_logs=self.access_logs,
                                     event_bridge_enabled=True)
        self.work = SecureBucket(self, "Work", key=self.key, access_logs=self.access_logs,
                                 event_bridge_enabled=True)
        self.metrics = SecureBucket(self, "Metrics", key=self.key, access_logs=self.access_logs)
