"""The run registry and the capacity ledger (DynamoDB)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from judgeflow.adapters.ledger import QUEUE_ORDER_INDEX
from judgeflow.adapters.registry import BY_EXECUTION_INDEX


class Registry(Construct):
    """`runs`: one item per run (PK run_id; GSI `by-execution` on execution_arn).
    `capacity`: quota reservations (PK instance_type, SK holder = execution ARN) with a TTL on
    `expires_at`, so a reservation whose holder vanished cannot block capacity for ever; the line
    of waiting runs under PK `#queue`, read in order through the LSI `queue-order`.

    Both: on-demand billing, KMS with the data key, point-in-time recovery, RETAIN.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        common = dict(
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.runs = dynamodb.Table(
            self, "Runs", partition_key=dynamodb.Attribute(name="run_id", type=dynamodb.AttributeType.STRING),
            **common,
        )
        self.runs.add_global_secondary_index(
            index_name=BY_EXECUTION_INDEX,
            partition_key=dynamodb.Attribute(name="execution_arn", type=dynamodb.AttributeType.STRING),
        )
        self.capacity = dynamodb.Table(
            self, "Capacity",
            partition_key=dynamodb.Attribute(name="instance_type", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="holder", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expires_at",
            **common,
        )
        # The line of waiting runs in enqueue order, read consistently (hence local, not global).
        self.capacity.add_local_secondary_index(
            index_name=QUEUE_ORDER_INDEX,
            sort_key=dynamodb.Attribute(name="enqueued_at_ms", type=dynamodb.AttributeType.NUMBER),
        )
