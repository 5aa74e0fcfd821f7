"""Run identity, per-run settings and run statuses (pure; the registry table is
judgeflow.adapters.registry).

A run id is derived from the dataset's content hash plus the effective settings, so the same
file dropped twice (or under another name) maps to the same run and is never launched twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

from judgeflow import schemas
from judgeflow.errors import RunSettingsError
from judgeflow.settings import Settings

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

# Run statuses recorded in the registry.
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
UNRELIABLE = "UNRELIABLE"
FAILED = "FAILED"
REJECTED = "REJECTED"
ABORTED = "ABORTED"
FINAL_STATUSES = (SUCCEEDED, UNRELIABLE, FAILED, REJECTED, ABORTED)

# S3 user metadata keys accepted for per-run settings (x-amz-meta-<key>).
METADATA_KEYS = {
    "task": "task",
    "judge-model": "judge_model",
    "model-a": "model_a",
    "model-b": "model_b",
    "instance-types": "instance_types",
    "rerun": "rerun",
}
# Keys upload tools write on their own, never mistaken for a misspelt setting (e.g. "mode" is not
# "model-a"): rclone (mtime, md5chksum), s3cmd --preserve (s3cmd-attrs), s3fs-fuse and other
# mounts (mode, uid, gid, atime, ctime, mtime). Any other unknown key is ignored as well, with a
# warning; this list only keeps these from ever being taken for a typo.
# The settings as the headers a user writes, for messages: "x-amz-meta-task, x-amz-meta-judge-model, ...".
METADATA_HEADERS = ", ".join(f"x-amz-meta-{key}" for key in METADATA_KEYS)
UPLOAD_TOOL_METADATA_KEYS = frozenset({"mtime", "atime", "ctime", "mode", "uid", "gid", "md5chksum", "s3cmd-attrs"})


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    task: str
    judge_model: str
    model_a: str
    model_b: str
    instance_types: tuple[str, ...]
    rerun: bool = False

    def identity(self) -> dict[str, Any]:
        """The settings that make a run different (labels included: they name the result)."""
        data = asdict(self)
        data.pop("rerun")
        data["instance_types"] = list(self.instance_types)
        return data


@lru_cache(maxsize=1)
def _settings_validator() -> "Draft202012Validator":
    from jsonschema import Draft202012Validator  # only stages that read run settings pay for it

    return Draft202012Validator(schemas.load("run_settings"))


@dataclass(frozen=True)
class MetadataSettings:
    """What a dataset's S3 user metadata says: the settings it names, and the keys that are not
    settings (written by upload tools and the like), ignored and reported as warnings."""

    requested: dict[str, Any]
    ignored: tuple[str, ...]  # full header names, e.g. "x-amz-meta-mtime"


def settings_from_metadata(metadata: Mapping[str, str]) -> MetadataSettings:
    """Turn S3 user metadata (all strings) into the settings shape. A key that looks like a
    misspelt setting is an error that names the right one; any other unknown key is ignored."""
    requested: dict[str, Any] = {}
    ignored: list[str] = []
    given_as: dict[str, str] = {}  # setting -> the header that gave it
    for raw_key, raw_value in metadata.items():
        key = raw_key.lower().removeprefix("x-amz-meta-").replace("_", "-")
        name = METADATA_KEYS.get(key)
        if name in given_as:
            raise RunSettingsError(
                f"S3 metadata sets {name} twice: 'x-amz-meta-{given_as[name]}' and 'x-amz-meta-{raw_key.lower()}'; "
                "keep one of them")
        if name:
            given_as[name] = raw_key.lower()
        value = _decoded(raw_key, raw_value)
        if name is None:
            meant = None if key in UPLOAD_TOOL_METADATA_KEYS else _setting_meant_by(key)
            if meant:
                raise RunSettingsError(
                    f"unknown S3 metadata key 'x-amz-meta-{key}': did you mean 'x-amz-meta-{meant}'? "
                    f"judgeflow settings are {METADATA_HEADERS}")
            ignored.append(f"x-amz-meta-{key}")
        elif name == "instance_types":
            requested[name] = [part.strip() for part in value.split(",") if part.strip()]
        elif name == "rerun":
            if value.lower() not in ("true", "false"):
                raise RunSettingsError(f"x-amz-meta-rerun must be 'true' or 'false', got {value!r}")
            requested[name] = value.lower() == "true"
        else:
            requested[name] = value
    return MetadataSettings(requested, tuple(ignored))


def _decoded(header: str, value: str) -> str:
    """A metadata value as the user wrote it. S3 returns a value holding non-ASCII characters
    RFC 2047 encoded ("=?UTF-8?B?...?="): "Values of such headers are character decoded as per RFC
    2047 before storing and encoded as per RFC 2047 to make them mail-safe before returning"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html)."""
    if "=?" not in value:
        return value
    from email.errors import HeaderParseError  # only for encoded values
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, HeaderParseError) as exc:  # bad base64 raises HeaderParseError
        raise RunSettingsError(f"x-amz-meta-{header.lower()}: the value {value!r} is not valid RFC 2047 text "
                               f"({exc}); set it again as plain text") from None


def _setting_meant_by(key: str) -> str | None:
    """The setting an unknown key most likely misspells or shortens, if any ("judge-modle",
    "instance" -> judge-model, instance-types); None for a key unlike every setting."""
    from difflib import get_close_matches  # only for unknown keys

    close = get_close_matches(key, METADATA_KEYS, n=1, cutoff=0.8)
    if close:
        return close[0]
    prefixes = [setting for setting in METADATA_KEYS
                if len(key) >= 4 and (setting.startswith(key) or key.startswith(setting))]
    return prefixes[0] if prefixes else None


def resolve_run_settings(requested: Mapping[str, Any] | None, defaults: Settings) -> RunSettings:
    requested = dict(requested or {})
    errors = sorted(_settings_validator().iter_errors(requested), key=lambda e: list(e.path))
    if errors:
        messages = []
        for error in errors:
            where = ".".join(str(p) for p in error.absolute_path) or "settings"
            if error.validator == "additionalProperties":
                allowed = sorted(error.schema["properties"])
                messages.append(f"{error.message}; allowed keys: {allowed}")
            elif error.validator == "enum":
                messages.append(f"{where}: {error.instance!r} is not allowed; use one of {error.validator_value}")
            else:
                messages.append(f"{where}: {error.message}")
        raise RunSettingsError("invalid run settings: " + "; ".join(messages))
    return RunSettings(
        task=requested.get("task", defaults.default_task),
        judge_model=requested.get("judge_model", defaults.default_judge_model),
        model_a=requested.get("model_a", "model_a"),
        model_b=requested.get("model_b", "model_b"),
        instance_types=tuple(requested.get("instance_types", defaults.instance_preferences)),
        rerun=bool(requested.get("rerun", False)),
    )


def derive_run_id(content_sha256: str, settings: RunSettings, rerun_nonce: str = "") -> str:
    """Stable id: same content + same settings -> same id. A re-run adds the nonce."""
    payload = json.dumps(
        {"content": content_sha256, "settings": settings.identity(), "rerun": rerun_nonce if settings.rerun else ""},
        sort_keys=True,
    )
    return "jf-" + hashlib.sha256(payload.encode()).hexdigest()[:20]


def training_job_name(run_id: str, attempt: int = 0) -> str:
    # SageMaker job names: up to 63 chars of [a-zA-Z0-9-]. The attempt suffix keeps names unique
    # when a quota refusal sends the run back to waiting (job names cannot be reused).
    return f"{run_id}-judge-{attempt}"
