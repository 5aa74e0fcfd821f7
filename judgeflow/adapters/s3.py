"""Reading and writing objects in S3."""

from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import unquote_plus

CHUNK_SIZE = 1 << 20


def read_chunks(s3: Any, bucket: str, key: str, *, version_id: str | None = None,
                chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The object's bytes, a chunk at a time (memory stays flat whatever the object size)."""
    request = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    body = s3.get_object(**request)["Body"]
    with body:
        yield from body.iter_chunks(chunk_size=chunk_size)


def read_bytes(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_bytes_if_present(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return read_bytes(s3, bucket, key)
    except s3.exceptions.NoSuchKey:
        return None


def put_json(s3: Any, bucket: str, key: str, document: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document, indent=2, ensure_ascii=False).encode(),
                  ContentType="application/json")


def resolve_object_key(s3: Any, bucket: str, key: str) -> str:
    """Event keys may arrive URL-encoded (space as '+'); try the raw key, then the decoded one."""
    candidates = [key]
    decoded = unquote_plus(key)
    if decoded != key:
        candidates.append(decoded)
    for candidate in candidates:
        try:
            s3.head_object(Bucket=bucket, Key=candidate)
            return candidate
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
    raise FileNotFoundError(
        f"s3://{bucket}/{key} does not exist (also tried the URL-decoded key {decoded!r}); check the bucket "
        "and key in the execution input"
    )
