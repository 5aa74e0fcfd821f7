"""Glue database and tables over the Parquet lake (partition projection, no crawler) + Athena workgroup."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from judgeflow import lake, layout

class Analytics(Construct):
    """A Glue database (`judgeflow` for the default deployment), tables `runs` and `items` (Hive
    partition `dt`, projected by date), and an Athena workgroup whose results are KMS-encrypted in
    the metrics bucket. Both names are account-wide: `deployment` tells copies apart.
    """

    def __init__(self, scope: Construct, construct_id: str, *, metrics_bucket: s3.IBucket, key: kms.IKey,
                 deployment: str = "") -> None:
        super().__init__(scope, construct_id)
        self.database_name = lake.database_name(deployment)
        self.workgroup_name = lake.workgroup_name(deployment)
        database = glue.CfnDatabase(self, "Database", catalog_id=Aws.ACCOUNT_ID,
                                    database_input=glue.CfnDatabase.DatabaseInputProperty(
                                        name=self.database_name, description="judgeflow metrics lake"))
        self.tables = {}
        for name, columns in lake.TABLES.items():
            location = f"s3://{metrics_bucket.bucket_name}/{layout.lake_table_prefix(name)}"
            table = glue.CfnTable(
                self, f"{name.title()}Table",
                catalog_id=Aws.ACCOUNT_ID,
                database_name=self.database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=name,
                    table_type="EXTERNAL_TABLE",
                    partition_keys=[glue.CfnTable.ColumnProperty(name="dt", type="string")],
                    parameters={
                        "classification": "parquet",
                        "projection.enabled": "true",
                        "projection.dt.type": "date",
                        "projection.dt.format": "yyyy-MM-dd",
                        "projection.dt.range": "2025-01-01,NOW",
                        "projection.dt.interval": "1",
                        "projection.dt.interval.unit": "DAYS",
                        "storage.location.template": location + "dt=${dt}/",
                    },
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        location=location,
                        columns=[glue.CfnTable.ColumnProperty(name=c, type=lake.glue_type(t)) for c, t in columns],
                        input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                        serde_info=glue.CfnTable.SerdeInfoProperty(
                            serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"),
                    ),
                ),
            )
            table.add_resource_dependency(database)
            self.tables[name] = table
        self.workgroup = athena.CfnWorkGroup(
            self, "WorkGroup",
            name=self.workgroup_name,
            description="judgeflow metrics queries",
            state="ENABLED",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{metrics_bucket.bucket_name}/{layout.ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn),
                ),
            ),
        )
