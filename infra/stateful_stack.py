"""Stateful stack: everything that holds data. Termination protection on, RETAIN everywhere."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.analytics import Analytics
from infra.judge_role import JudgeExecutionRole
from infra.registry import Registry
from infra.storage import Storage
from judgeflow import stacks
from judgeflow.settings import Settings


class StatefulStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, deployment: str = "",
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, termination_protection=True, **kwargs)
        self.storage = Storage(self, "Storage")
        self.registry = Registry(self, "Registry", key=self.storage.key)
        self.analytics = Analytics(self, "Analytics", metrics_bucket=self.storage.metrics, key=self.storage.key,
                                   deployment=deployment)
        self.judge_role = JudgeExecutionRole(self, "JudgeExecutionRole", work_bucket=self.storage.work,
                                             key=self.storage.key, nova_image_uri=settings.nova_image).role
        CfnOutput(self, stacks.DATASETS_BUCKET, value=self.storage.datasets.bucket_name,
                  description="Drop JSONL files under incoming/ in this bucket")
        CfnOutput(self, stacks.METRICS_BUCKET, value=self.storage.metrics.bucket_name)
        CfnOutput(self, stacks.RUN_REGISTRY_TABLE, value=self.registry.runs.table_name,
                  description="One item per run (the operator commands read it)")
        CfnOutput(self, "GlueDatabaseName", value=self.analytics.database_name,
                  description="Query the runs and items tables in Athena")
        CfnOutput(self, "AthenaWorkGroupName", value=self.analytics.workgroup_name)
