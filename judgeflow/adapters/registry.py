"""The run registry (DynamoDB): one item per run, keyed by run_id, with a `by-execution` index."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from judgeflow.runs import FINAL_STATUSES, RUNNING

BY_EXECUTION_INDEX = "by-execution"


@dataclass
class RunRegistry:
    """The DynamoDB run table: one item per run, keyed by run_id."""

    table: Any  # boto3 DynamoDB Table resource

    def register(self, *, run_id: str, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create the run; return None if new, else the existing item (a duplicate)."""
        now = int(time.time())
        try:
            self.table.put_item(
                Item={"run_id": run_id, "status": RUNNING, "created_at": now, "updated_at": now, **item},
                ConditionExpression="attribute_not_exists(run_id)",
            )
            return None
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return self.get(run_id)

    def get(self, run_id: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item")

    def update(self, run_id: str, **fields: Any) -> dict[str, Any]:
        fields["updated_at"] = int(time.time())
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        return self.table.update_item(
            Key={"run_id": run_id},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]

    def finish(self, run_id: str, *, status: str, reason: str, **fields: Any) -> dict[str, Any]:
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {status}")
        return self.update(run_id, status=status, reason=reason, finished_at=int(time.time()), **fields)

    def find_by_execution(self, execution_arn: str) -> dict[str, Any] | None:
        response = self.table.query(
            IndexName=BY_EXECUTION_INDEX,
            KeyConditionExpression="execution_arn = :arn",
            ExpressionAttributeValues={":arn": execution_arn},
        )
        items = response.get("Items", [])
        return items[0] if items else None
