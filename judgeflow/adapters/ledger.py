"""The capacity ledger (DynamoDB): quota reservations and the line of waiting runs.

Table layout: PK instance_type, SK holder (the execution ARN). Per type, one counter item
(`#version`) and one item per reservation, with a TTL on `expires_at`. The line of waiting runs
lives under PK `#queue`, read in order through the LSI `queue-order` (sort key enqueued_at_ms).

A reservation is written in one transaction with a version bump on its type's counter item,
conditioned on the version its decision read: two executions that saw the same state cannot
both reserve the last slot. Releases bump the same version, which tells a parking run that
capacity changed since its check.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from judgeflow.capacity_policy import Waiter

COUNTER_SORT_KEY = "#version"
QUEUE_PARTITION = "#queue"
QUEUE_ORDER_INDEX = "queue-order"
# A release whose transaction DynamoDB cancels for a conflicting write in flight (on the shared
# version item) is tried again this many times, with a short jittered pause, before it fails.
RELEASE_ATTEMPTS = 5


def _waiter(item: dict[str, Any]) -> Waiter:
    return Waiter(holder=item["holder"], run_id=item.get("run_id", ""), enqueued_at_ms=int(item["enqueued_at_ms"]),
                  instance_types=tuple(item.get("instance_types", [])), instances=int(item.get("instances", 1)),
                  task_token=item.get("task_token"), woken="woken_at" in item)


@dataclass(frozen=True)
class TypeSnapshot:
    """One consistent read of a type's reservations: the counter version and the live reservations."""

    version: int
    live: list[dict[str, Any]]


@dataclass
class CapacityLedger:
    table: Any  # boto3 DynamoDB Table resource

    def _pages(self, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        """The items of a Query, a page at a time."""
        while True:
            page = self.table.query(**kwargs)
            yield page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def snapshot(self, instance_type: str, now: int) -> TypeSnapshot:
        version = 0
        live = []
        for page in self._pages(KeyConditionExpression="instance_type = :t",
                                ExpressionAttributeValues={":t": instance_type}, ConsistentRead=True):
            for item in page:
                if item["holder"] == COUNTER_SORT_KEY:
                    version = int(item.get("version", 0))
                elif int(item.get("expires_at", 0)) > now:
                    live.append(item)
        return TypeSnapshot(version, live)

    def versions(self, instance_types: Iterable[str]) -> dict[str, int]:
        found = {}
        for instance_type in instance_types:
            item = self.table.get_item(Key={"instance_type": instance_type, "holder": COUNTER_SORT_KEY},
                                       ConsistentRead=True).get("Item") or {}
            found[instance_type] = int(item.get("version", 0))
        return found

    def _bump(self, instance_type: str, seen: int | None = None) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": {"instance_type": instance_type, "holder": COUNTER_SORT_KEY},
            "UpdateExpression": "ADD version :one",
            "ExpressionAttributeValues": {":one": 1},
        }
        if seen is not None:  # conditioned on the snapshot the decision was made from
            update["ConditionExpression"] = "attribute_not_exists(version) OR version = :seen"
            update["ExpressionAttributeValues"][":seen"] = seen
        return {"Update": update}

    def reserve(self, *, instance_type: str, seen_version: int, holder: str, run_id: str, job_name: str,
                instances: int, ttl_seconds: int, now: int) -> bool:
        """Write the reservation if the type's version is still the one the decision saw; taking a
        slot also takes the run out of line. False when another write came first."""
        client = self.table.meta.client
        try:
            client.transact_write_items(TransactItems=[
                self._bump(instance_type, seen=seen_version),
                {"Put": {"TableName": self.table.name, "Item": {
                    "instance_type": instance_type, "holder": holder, "run_id": run_id, "job_name": job_name,
                    "instances": instances, "reserved_at": now, "expires_at": now + ttl_seconds}}},
                {"Delete": {"TableName": self.table.name, "Key": {"instance_type": QUEUE_PARTITION, "holder": holder}}},
            ])
            return True
        except client.exceptions.TransactionCanceledException:
            return False

    def release(self, *, holder: str, instance_types: Iterable[str]) -> dict[str, int]:
        """Delete this holder's reservations (bumping each type's version) and its queue place.
        Returns the instances freed per type."""
        client = self.table.meta.client
        released: dict[str, int] = {}
        for instance_type in instance_types:
            key = {"instance_type": instance_type, "holder": holder}
            held = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
            if not held:
                continue
            for attempt in range(RELEASE_ATTEMPTS):
                try:
                    client.transact_write_items(TransactItems=[
                        {"Delete": {"TableName": self.table.name, "Key": key,
                                    "ConditionExpression": "attribute_exists(holder)"}},
                        self._bump(instance_type),
                    ])
                    released[instance_type] = int(held.get("instances", 1))
                    break
                except client.exceptions.TransactionCanceledException as cancelled:
                    if _cancellation_codes(cancelled)[:1] == ["ConditionalCheckFailed"]:
                        break  # released concurrently (a retry, or the status-change rule): idempotent
                    if attempt == RELEASE_ATTEMPTS - 1:
                        raise  # still conflicting: fail loudly rather than leave the slot held
                    time.sleep(random.uniform(0.05, 0.1) * 2 ** attempt)
        self.leave_queue(holder)
        return released

    # --- the line ---------------------------------------------------------------------------------
    def _line_query(self, now: int, *, before_ms: int | None = None, accepting: str | None = None,
                    **query_args: Any) -> Iterator[list[dict[str, Any]]]:
        """Pages of live waiters in line order (the queue-order index), read consistently; only
        those enqueued at or before `before_ms` / accepting an instance type, when given."""
        key_condition, live = "instance_type = :q", "expires_at > :now"
        values: dict[str, Any] = {":q": QUEUE_PARTITION, ":now": now}
        if before_ms is not None:
            key_condition += " AND enqueued_at_ms <= :before"
            values[":before"] = before_ms
        if accepting is not None:
            live += " AND contains(instance_types, :t)"
            values[":t"] = accepting
        return self._pages(IndexName=QUEUE_ORDER_INDEX, ConsistentRead=True, KeyConditionExpression=key_condition,
                           FilterExpression=live, ExpressionAttributeValues=values, **query_args)

    def line(self, now: int, page_size: int = 25) -> Iterator[Waiter]:
        """Live waiters, first in line first, read a page at a time (a release needs only the first few)."""
        for items in self._line_query(now, Limit=page_size):
            yield from sorted((_waiter(item) for item in items), key=lambda w: w.place)

    def waiters_up_to(self, *, queued_at_ms: int, instance_type: str, now: int) -> list[Waiter]:
        """Live waiters enqueued no later than `queued_at_ms` that accept `instance_type`: those that
        can be ahead of a run with that place (the policy decides which are)."""
        return [_waiter(item) for items in self._line_query(now, before_ms=queued_at_ms, accepting=instance_type)
                for item in items]

    def join_queue(self, *, holder: str, run_id: str, instance_types: list[str], instances: int, enqueued_at_ms: int,
                   expires_at: int) -> None:
        """Take (or keep) a place in line, between a check and parking; the first enqueue time
        wins, so re-checks keep the place."""
        self.table.update_item(
            Key={"instance_type": QUEUE_PARTITION, "holder": holder},
            UpdateExpression="SET #e = if_not_exists(#e, :e), #x = :x, #t = :t, #i = :i, #r = :r REMOVE #w, #k",
            ExpressionAttributeNames={"#e": "enqueued_at_ms", "#x": "expires_at", "#t": "instance_types",
                                      "#i": "instances", "#r": "run_id", "#w": "woken_at", "#k": "task_token"},
            ExpressionAttributeValues={":e": enqueued_at_ms, ":x": expires_at, ":t": list(instance_types),
                                       ":i": instances, ":r": run_id})

    def park(self, *, holder: str, task_token: str, expires_at: int) -> bool:
        """Store the token of a run that joined the line. False if it has no place in line any
        more (taken out by an abort or a release meanwhile): parking must not put it back."""
        return self._update_place_if(holder, "attribute_exists(holder)", "SET task_token = :k, expires_at = :x",
                                     {":k": task_token, ":x": expires_at})

    def take_token(self, *, holder: str, task_token: str) -> bool:
        """Claim a parked waiter's token so that only one release (or the waiter itself) wakes it."""
        return self._update_place_if(holder, "task_token = :k", "REMOVE task_token SET woken_at = :now",
                                     {":k": task_token, ":now": int(time.time())})

    def _update_place_if(self, holder: str, condition: str, update: str, values: dict[str, Any]) -> bool:
        """Update a place in line if `condition` holds; False when it no longer does."""
        try:
            self.table.update_item(Key={"instance_type": QUEUE_PARTITION, "holder": holder}, UpdateExpression=update,
                                   ConditionExpression=condition, ExpressionAttributeValues=values)
            return True
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False

    def leave_queue(self, holder: str) -> None:
        self.table.delete_item(Key={"instance_type": QUEUE_PARTITION, "holder": holder})


def _cancellation_codes(cancelled: Exception) -> list[str]:
    """Why DynamoDB cancelled a transaction, one code per item in request order
    ("ConditionalCheckFailed", "TransactionConflict", "None", ...)."""
    return [reason.get("Code", "None") for reason in getattr(cancelled, "response", {}).get("CancellationReasons", [])]
