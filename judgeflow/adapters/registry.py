"""The run registry (DynamoDB): one item per run, keyed by run_id, with a `by-execution` index."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from judgeflow.runs import FINAL_STATUSES, RUNNING

BY_EXECUTION_INDEX = "by-execution"
# results_state of a run whose archive was claimed: being applied, then applied.
RESULTS_APPLYING = "APPLYING"
RESULTS_APPLIED = "APPLIED"


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

    def update(self, run_id: str, *, _condition: tuple[str, dict[str, str], dict[str, Any]] | None = None,
               **fields: Any) -> dict[str, Any]:
        """Set fields of a run; `_condition` (expression, names, values) must hold, else DynamoDB's
        ConditionalCheckFailedException."""
        fields["updated_at"] = int(time.time())
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        condition = {}
        if _condition:
            condition_expression, condition_names, condition_values = _condition
            names |= condition_names
            values |= condition_values
            condition = {"ConditionExpression": condition_expression}
        return self.table.update_item(
            Key={"run_id": run_id},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            **condition,
        )["Attributes"]

    def finish(self, run_id: str, *, status: str, reason: str, **fields: Any) -> dict[str, Any] | None:
        """Record how a RUNNING run ended; None when it had already ended (a finished run's status
        is never rewritten: a late abort, a late results copy)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"not a final status: {status}")
        try:
            return self.update(run_id, status=status, reason=reason, finished_at=int(time.time()),
                               _condition=("#status = :running", {"#status": "status"}, {":running": RUNNING}),
                               **fields)
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return None

    def claim_results(self, run_id: str, *, archive: str, claimant: str,
                      stale_after_seconds: int) -> tuple[bool, dict[str, Any] | None]:
        """Take the run's one results archive: (True, item) for the first archive of a RUNNING run,
        or for the same archive taken again by the same claimant (Lambda retries an asynchronous
        invocation under its request id: the crashed attempt's writes are deterministic, so
        applying again is harmless) or after a claim went stale. Otherwise (False, item): an
        unknown run (None), a finished run, another archive, or another delivery of the same
        archive applying it now or done."""
        now = int(time.time())
        condition = ("#status = :running AND (attribute_not_exists(results_archive) OR "
                     "(results_archive = :archive AND results_state = :applying AND "
                     "(results_claimant = :claimant OR results_claimed_at < :stale)))")
        try:
            item = self.update(run_id, results_archive=archive, results_state=RESULTS_APPLYING,
                               results_claimant=claimant, results_claimed_at=now,
                               _condition=(condition, {"#status": "status"},
                                           {":running": RUNNING, ":archive": archive, ":claimant": claimant,
                                            ":applying": RESULTS_APPLYING, ":stale": now - stale_after_seconds}))
            return True, item
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False, self.get(run_id)

    def note(self, run_id: str, field_name: str, entry: str) -> None:
        """Append `entry` to a list on an existing run (what happened to it that changed nothing)."""
        try:
            self.table.update_item(
                Key={"run_id": run_id}, ConditionExpression="attribute_exists(run_id)",
                UpdateExpression="SET #f = list_append(if_not_exists(#f, :empty), :entry)",
                ExpressionAttributeNames={"#f": field_name},
                ExpressionAttributeValues={":entry": [entry], ":empty": []})
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            pass  # no such run: nothing to note it on

    def find_by_execution(self, execution_arn: str) -> dict[str, Any] | None:
        response = self.table.query(
            IndexName=BY_EXECUTION_INDEX,
            KeyConditionExpression="execution_arn = :arn",
            ExpressionAttributeValues={":arn": execution_arn},
        )
        items = response.get("Items", [])
        return items[0] if items else None
