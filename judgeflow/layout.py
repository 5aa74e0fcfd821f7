"""S3 key layout shared by infra (notification filters), the Lambdas and the offline harness."""

from __future__ import annotations

from urllib.parse import unquote_plus

INCOMING_PREFIX = "incoming/"
REJECTED_PREFIX = "rejected/"
RUNS_PREFIX = "runs/"
OUTPUT_ARCHIVE_NAME = "output.tar.gz"
LAKE_PREFIX = "lake/"
REPORTS_PREFIX = "reports/"
ATHENA_RESULTS_PREFIX = "athena-results/"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


def staged_input_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}input/"


def sidecar_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}sidecar/sidecar.jsonl"


def recipe_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}recipe/"


def output_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}output/"


def run_id_from_output_key(key: str) -> str | None:
    """runs/<run_id>/output/<job>/output/output.tar.gz -> run_id."""
    parts = key.split("/")
    if len(parts) >= 6 and parts[0] == RUNS_PREFIX.rstrip("/") and parts[2] == "output" and parts[-1] == OUTPUT_ARCHIVE_NAME:
        return parts[1]
    return None


def rejection_report_key(dataset_key: str) -> str:
    name = dataset_key[len(INCOMING_PREFIX):] if dataset_key.startswith(INCOMING_PREFIX) else dataset_key
    return f"{REJECTED_PREFIX}{name}.report.json"


def resolve_object_key(s3_client, bucket: str, key: str) -> str:
    """Event keys may arrive URL-encoded (space as '+'); try the raw key, then the decoded one."""
    candidates = [key]
    decoded = unquote_plus(key)
    if decoded != key:
        candidates.append(decoded)
    for candidate in candidates:
        try:
            s3_client.head_object(Bucket=bucket, Key=candidate)
            return candidate
        except s3_client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
    raise FileNotFoundError(
        f"s3://{bucket}/{key} does not exist (also tried the URL-decoded key {decoded!r}); check the bucket "
        "and key in the execution input"
    )
