"""Validate stage: check the execution input, the run settings and every line of the dataset
before any GPU minute is spent. An invalid dataset gets a report next to it; the original is kept."""

from __future__ import annotations

from typing import Any, Mapping

from judgeflow import layout, recipes, runs, validation
from judgeflow.adapters import s3 as objects
from judgeflow.errors import RecipeError, RequestError, RunSettingsError
from judgeflow.settings import Settings

# `version_id` comes with an S3 event (the upload that raised it); a console or CLI input may give
# one to judge an earlier version, else the current version is read and recorded.
REQUEST_KEYS = ("bucket", "key", "version_id", "settings", "source", "event_id")
EXAMPLE_REQUEST = '{"bucket": "<datasets bucket>", "key": "incoming/my-data.jsonl", "settings": {"model_a": "..."}}'


def check_request(request: Any, *, datasets_bucket: str) -> Mapping[str, Any]:
    """The execution input (console, CLI or S3 event) has the documented shape and names the
    datasets bucket: a console user must not make the pipeline read another bucket."""
    if not isinstance(request, Mapping):
        raise RequestError(f"execution input must be a JSON object like {EXAMPLE_REQUEST}, got "
                           f"{_json_kind(request)}")
    unknown = sorted(map(str, set(request) - set(REQUEST_KEYS)))
    missing = [k for k in ("bucket", "key") if not isinstance(request.get(k), str) or not request.get(k)]
    if unknown or missing:
        raise RequestError(
            f"execution input: missing {missing} / unknown keys {unknown}; allowed keys {list(REQUEST_KEYS)}; "
            f"example: {EXAMPLE_REQUEST}")
    if "settings" in request and not isinstance(request["settings"], Mapping):
        raise RequestError(f"execution input 'settings' must be an object, got {_json_kind(request['settings'])}; "
                           f"example: {EXAMPLE_REQUEST}")
    version_id = request.get("version_id")
    if version_id is not None and (not isinstance(version_id, str) or not version_id):
        raise RequestError("execution input 'version_id' must be an S3 version id (a string); leave it out to "
                           "judge the object's current version")
    if datasets_bucket and request["bucket"] != datasets_bucket:
        raise RequestError(f"execution input names bucket {request['bucket']!r}; judgeflow only reads datasets "
                           f"from its datasets bucket {datasets_bucket!r}: copy the file there, under "
                           f"{layout.INCOMING_PREFIX}, and give that bucket")
    return request


def _json_kind(value: Any) -> str:
    """"a string", "an array", "null", ...: the JSON type of `value`, as a message says it."""
    kind = validation.json_type(value)
    return kind if kind == "null" else ("an " if kind[0] in "aeiou" else "a ") + kind


def validate_request(*, s3: Any, settings: Settings, datasets_bucket: str, request: Any,
                     execution_name: str = "") -> dict[str, Any]:
    """Check the execution input, then validate the dataset it names. A mistake in the input (its
    shape, the bucket, an object that does not exist) is a rejection with a sentence, recorded like
    an invalid dataset; only a fault of AWS itself raises."""
    try:
        request = check_request(request, datasets_bucket=datasets_bucket)
        return validate_dataset(s3=s3, settings=settings, bucket=request["bucket"], key=request["key"],
                                version_id=request.get("version_id"), requested_settings=request.get("settings"))
    except RequestError as exc:
        known = request if isinstance(request, Mapping) else {}
        return {"valid": False, "message": f"Execution input rejected: {exc}",
                "dataset": {name: known.get(name) if isinstance(known.get(name), str) else None
                            for name in ("bucket", "key", "version_id")},
                "upload": f"execution:{execution_name}", "error_counts": {"request": 1}}


def validate_dataset(*, s3: Any, settings: Settings, bucket: str, key: str, version_id: str | None = None,
                     requested_settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate settings and content of one version of the object (the one the event names, else
    the current one). Writes a rejection report next to the original when invalid."""
    resolved_key, head = objects.head_version(s3, bucket, key, version_id=version_id)
    problems: list[dict[str, Any]] = []
    ignored_metadata: tuple[str, ...] = ()
    run_settings = None
    try:
        from_metadata = runs.settings_from_metadata(head.get("Metadata", {}))
        ignored_metadata = from_metadata.ignored
        merged = {**from_metadata.requested, **(requested_settings or {})}
        run_settings = runs.resolve_run_settings(merged, settings)
        recipe = recipes.choose_recipe(run_settings.task, run_settings.judge_model)
        recipes.allowed_instance_order(recipe, run_settings.instance_types)
    except (RunSettingsError, RecipeError) as exc:
        problems.append({"line": None, "field": "settings", "kind": "settings", "message": str(exc),
                         "fix": "correct the S3 object metadata or the execution input 'settings'"})
    task = run_settings.task if run_settings else settings.default_task
    report = validation.validate_stream(
        objects.read_chunks(s3, bucket, resolved_key, version_id=head.get("VersionId")), source=resolved_key,
        task=task, token_limit=settings.token_limit, max_rows=settings.max_rows,
        max_findings=settings.max_errors_reported,
    )
    document = report.as_dict()
    document["warnings"] = [_ignored_metadata_warning(name) for name in ignored_metadata] + document["warnings"]
    document["bucket"] = bucket
    document["settings_errors"] = problems
    valid = report.valid and not problems
    document["valid"] = valid
    dataset = {"bucket": bucket, "key": resolved_key, "sha256": report.content_sha256,
               "records": report.records, "bytes": report.bytes_read,
               "version_id": head.get("VersionId")}
    upload = objects.upload_identity(bucket, resolved_key, head)
    if valid:
        return {"valid": True, "dataset": dataset, "upload": upload,
                "settings": run_settings.identity() | {"rerun": run_settings.rerun},
                "warnings": document["warnings"][:10], "message": report.summary()}
    report_key = layout.rejection_report_key(resolved_key)
    document["version_id"] = head.get("VersionId")
    # The bucket is versioned: a later rejected upload of the same key writes a new version of the
    # report, and each run record keeps the version that is its own.
    report_version = objects.put_json(s3, bucket, report_key, document)
    first = (problems + document["errors"])[:3]
    details = "; ".join(
        f"line {p['line']} field {p['field'] or '-'}: {p['message']}" if p["line"] else p["message"] for p in first
    )
    total = sum(report.error_counts.values()) + len(problems)
    message = (f"Dataset s3://{bucket}/{resolved_key} rejected: {total} error(s). {details}. "
               f"Full report: s3://{bucket}/{report_key}. The original file is kept unchanged.")
    return {"valid": False, "dataset": dataset, "upload": upload, "report_key": report_key,
            "report_version_id": report_version, "message": message,
            "error_counts": dict(report.error_counts) | ({"settings": len(problems)} if problems else {})}


def _ignored_metadata_warning(header: str) -> dict[str, Any]:
    return {"line": None, "field": header, "kind": "ignored_metadata",
            "message": f"the S3 metadata key '{header}' is not a judgeflow setting (upload tools such as rclone "
                       "or s3cmd add keys like it); it was ignored.",
            "fix": f"nothing to do if a tool added it; judgeflow settings are {runs.METADATA_HEADERS}."}
