"""The metrics lake's columns, written once: the results stage builds its Parquet schemas from them
(judgeflow.items.arrow_schema) and infra its Glue tables (infra/analytics.py). They are a public
contract: Athena queries depend on them, so a rename is listed in the README with the old name.

A column type is a Glue/Hive scalar name ("string", "bigint", "double", "boolean", "timestamp")
or ("array", <struct fields>) for an array of structs.
"""

from __future__ import annotations

from typing import Union

ColumnType = Union[str, tuple[str, tuple[tuple[str, str], ...]]]

RUNS_TABLE = "runs"
ITEMS_TABLE = "items"
DATABASE = "judgeflow"  # the default deployment's Glue database and Athena workgroup


def database_name(deployment: str = "") -> str:
    """Glue database names take lowercase letters, digits and underscores."""
    return f"{DATABASE}_{deployment.replace('-', '_')}" if deployment else DATABASE


def workgroup_name(deployment: str = "") -> str:
    return f"{DATABASE}-{deployment}" if deployment else DATABASE

CRITERION_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "string"), ("score_a", "double"), ("score_b", "double"), ("weight", "double"), ("type", "string"),
    ("description", "string"), ("justification_a", "string"), ("justification_b", "string"),
)

RUNS_COLUMNS: tuple[tuple[str, ColumnType], ...] = (
    ("run_id", "string"), ("dataset_sha256", "string"), ("dataset_key", "string"), ("task", "string"),
    ("judge_model", "string"), ("model_a", "string"), ("model_b", "string"), ("instance_type", "string"),
    ("job_name", "string"), ("produced_by", "string"), ("created_at", "timestamp"), ("finished_at", "timestamp"),
    ("status", "string"), ("service_metrics_json", "string"), ("service_winrate", "double"),
    ("service_lower_rate", "double"), ("service_upper_rate", "double"), ("service_weighted_score_a", "double"),
    ("service_weighted_score_b", "double"), ("service_score_margin", "double"), ("a_wins", "bigint"),
    ("b_wins", "bigint"), ("ties", "bigint"), ("inference_errors", "bigint"), ("items", "bigint"),
    ("jf_b_share_decisive", "double"), ("jf_wilson_low", "double"), ("jf_wilson_high", "double"),
    ("jf_tie_half_win_rate", "double"), ("jf_error_rate", "double"), ("jf_agreement_rate", "double"),
    ("verdict", "string"), ("verdict_reason", "string"),
    # Added with issue 12 (after the columns above, so earlier files keep reading by name):
    ("service_a_scores", "double"), ("service_b_scores", "double"), ("service_ties", "double"),
    ("service_inference_error", "double"), ("service_error_rate", "double"), ("service_count_unit", "string"),
    ("jf_count_unit", "string"), ("results_folder", "string"), ("summary_key", "string"),
    ("details_files", "bigint"), ("warnings_json", "string"),
)

ITEMS_COLUMNS: tuple[tuple[str, ColumnType], ...] = (
    ("run_id", "string"), ("item_index", "bigint"), ("line_number", "bigint"), ("category", "string"),
    ("forward_verdict", "string"), ("backward_verdict", "string"), ("orders_agree", "boolean"),
    ("preference", "string"), ("weighted_score_a", "double"), ("weighted_score_b", "double"),
    ("score_margin", "double"), ("criteria", ("array", CRITERION_FIELDS)), ("justification", "string"),
    # The staged sidecar row: `_line` plus the user's extra fields.
    ("sidecar_json", "string"),
    ("details_file", "string"),  # the archive's details file the row came from
)

TABLES = {RUNS_TABLE: RUNS_COLUMNS, ITEMS_TABLE: ITEMS_COLUMNS}


def glue_type(column_type: ColumnType) -> str:
    """The Glue/Hive type text, e.g. array<struct<name:string,score_a:double>>."""
    if isinstance(column_type, str):
        return column_type
    _array, fields = column_type
    return "array<struct<" + ",".join(f"{name}:{kind}" for name, kind in fields) + ">>"
