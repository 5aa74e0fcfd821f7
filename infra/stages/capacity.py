"""Capacity stage: quota-aware reservation, a fair queue with wake-up on release, release on every path."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.stages import access
from infra.stages.data import PipelineData
from infra.stages.function import stage_function
from judgeflow.adapters.ledger import QUEUE_ORDER_INDEX
from judgeflow.adapters.registry import BY_EXECUTION_INDEX


class CapacityStage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, data: PipelineData) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        key = access.use_key(data.key)
        # Waiting executions are woken through their task tokens.
        wake = access.answer_task_tokens("SendTaskSuccess")
        training_jobs = stack.format_arn(service="sagemaker", resource="training-job", resource_name="*")
        self.acquire = stage_function(
            self, "Acquire", handler="lambdas.capacity.handler.acquire",
            description="judgeflow: read the live SageMaker quota and reserve a slot, or say how long to wait",
            environment=data.environment,
            statements=[
                # These Service Quotas reads and ListTrainingJobs support no resource-level permissions
                # (Service Authorization Reference, list_servicequotas / list_amazonsagemaker). Applied
                # values first; a quota without one has only its AWS default (adapters/quotas.py).
                iam.PolicyStatement(actions=["servicequotas:ListServiceQuotas", "servicequotas:GetServiceQuota",
                                             "servicequotas:ListAWSDefaultServiceQuotas",
                                             "servicequotas:GetAWSDefaultServiceQuota",
                                             "sagemaker:ListTrainingJobs"],
                                    resources=["*"]),
                iam.PolicyStatement(actions=["sagemaker:DescribeTrainingJob"], resources=[training_jobs]),
                # Reserve (transaction: Update + Put + Delete), keep a place in line, read versions.
                access.table_items(data.capacity, "Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem",
                                   index=QUEUE_ORDER_INDEX),
                access.table_items(data.runs, "UpdateItem"),
                wake,
                key,
            ],
        )
        self.park = stage_function(
            self, "Park", handler="lambdas.capacity.handler.park",
            description="judgeflow: park a waiting execution in the capacity queue until a release wakes it",
            environment=data.environment,
            statements=[access.table_items(data.capacity, "GetItem", "UpdateItem"), wake, key],
        )
        # Release: delete the reservation (transaction with a version bump), then wake the first in line.
        releasing = access.table_items(data.capacity, "Query", "GetItem", "UpdateItem", "DeleteItem",
                                       index=QUEUE_ORDER_INDEX)
        self.release = stage_function(
            self, "Release", handler="lambdas.capacity.handler.release",
            description="judgeflow: release this execution's capacity reservation and wake the next run in line",
            environment=data.environment,
            statements=[releasing, wake, key],
        )
        self.on_execution_ended = stage_function(
            self, "OnExecutionEnded", handler="lambdas.capacity.handler.on_execution_ended",
            description="judgeflow: release capacity and record the run when an execution is aborted or times out",
            environment=data.environment,
            statements=[releasing, wake, access.table_items(data.runs, "Query", "UpdateItem", index=BY_EXECUTION_INDEX), key],
        )
