"""The S3 layout, written once: the stages build keys from it, and infra derives the IAM object
patterns and the EventBridge key filters from it (`ANY_RUN`, `under`) instead of retyping them."""

from __future__ import annotations

INCOMING_PREFIX = "incoming/"
REJECTED_PREFIX = "rejected/"
RUNS_PREFIX = "runs/"
OUTPUT_ARCHIVE_NAME = "output.tar.gz"
STAGED_FILE_NAME = "llm_judge.jsonl"
LAKE_PREFIX = "lake/"
REPORTS_PREFIX = "reports/"
ATHENA_RESULTS_PREFIX = "athena-results/"
# Stands for every run id in an IAM resource pattern or an event filter.
ANY_RUN = "*"
# S3 refuses longer keys (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
MAX_KEY_BYTES = 1024
REPORT_SUFFIX = ".report.json"


def under(prefix: str) -> str:
    """The IAM object pattern of every key under `prefix`."""
    return f"{prefix}*"


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/"


def staged_input_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}input/"


def staged_input_key(run_id: str) -> str:
    return staged_input_prefix(run_id) + STAGED_FILE_NAME


def sidecar_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}sidecar/"


def sidecar_key(run_id: str) -> str:
    return f"{sidecar_prefix(run_id)}sidecar.jsonl"


def recipe_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}recipe/"


def output_prefix(run_id: str) -> str:
    return f"{run_prefix(run_id)}output/"


def output_archive_pattern() -> str:
    """Event filter (EventBridge wildcard) for the archive a judge job writes:
    runs/<run_id>/output/<job>/output/output.tar.gz."""
    return f"{output_prefix(ANY_RUN)}*/{OUTPUT_ARCHIVE_NAME}"


def run_id_from_output_key(key: str) -> str | None:
    """runs/<run_id>/output/<job>/output/output.tar.gz -> run_id."""
    parts = key.split("/")
    if len(parts) >= 6 and parts[0] == RUNS_PREFIX.rstrip("/") and parts[2] == "output" and parts[-1] == OUTPUT_ARCHIVE_NAME:
        return parts[1]
    return None


def job_name_from_output_key(key: str) -> str:
    """runs/<run_id>/output/<job>/output/output.tar.gz -> <job>."""
    return key.split("/")[3]


def rejection_report_key(dataset_key: str) -> str:
    """rejected/<the dataset's key under incoming/>.report.json. A dataset key so long that this
    would pass S3's limit keeps its start and gets its digest instead of its tail: still unique,
    still found next to the name the user gave."""
    name = dataset_key[len(INCOMING_PREFIX):] if dataset_key.startswith(INCOMING_PREFIX) else dataset_key
    key = f"{REJECTED_PREFIX}{name}{REPORT_SUFFIX}"
    if len(key.encode("utf-8")) <= MAX_KEY_BYTES:
        return key
    import hashlib  # only for the rare key this long

    tail = "~" + hashlib.sha256(dataset_key.encode("utf-8")).hexdigest()[:16] + REPORT_SUFFIX
    room = MAX_KEY_BYTES - len(REJECTED_PREFIX) - len(tail)
    start = name.encode("utf-8")[:room].decode("utf-8", errors="ignore")  # never half a character
    return f"{REJECTED_PREFIX}{start}{tail}"


def report_prefix(run_id: str) -> str:
    return f"{REPORTS_PREFIX}{run_id}/"


def lake_key(table: str, date: str, run_id: str) -> str:
    """lake/<table>/dt=<YYYY-MM-DD>/<run_id>.parquet (Hive partition `dt`)."""
    return f"{lake_table_prefix(table)}dt={date}/{run_id}.parquet"


def lake_table_prefix(table: str) -> str:
    return f"{LAKE_PREFIX}{table}/"
