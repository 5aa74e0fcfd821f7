"""Reading and writing objects in S3."""

from __future__ import annotations

import io
import json
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import unquote_plus

from judgeflow.errors import RequestError

CHUNK_SIZE = 1 << 20
# A multipart upload has at most 10,000 parts of at least 5 MiB each, the last excepted
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
MAX_PARTS = 10_000
MIN_PART_BYTES = 8 << 20


def read_chunks(s3: Any, bucket: str, key: str, *, version_id: str | None = None,
                chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The object's bytes, a chunk at a time (memory stays flat whatever the object size)."""
    body = open_version(s3, bucket, key, version_id=version_id)
    with body:  # `as` would give the raw HTTP response, not the StreamingBody that checks the length
        yield from body.iter_chunks(chunk_size=chunk_size)


class _ChunkStream(io.RawIOBase):
    """A read-only stream over bytes produced on the fly: what `upload_fileobj` reads, part by part."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def upload_stream(s3: Any, bucket: str, key: str, chunks: Iterable[bytes], *, size_hint: int) -> None:
    """Upload bytes as they are produced, without a temporary file: boto3's transfer manager reads
    the stream a part at a time (multipart once past one part). `size_hint`, an upper bound of the
    total, sizes the parts so the upload stays within S3's part count."""
    from boto3.s3.transfer import TransferConfig  # here: the local `validate` command must not load boto3

    part_bytes = max(MIN_PART_BYTES, -(-size_hint // (MAX_PARTS - 1)))
    config = TransferConfig(multipart_threshold=part_bytes, multipart_chunksize=part_bytes, max_concurrency=4,
                            use_threads=True)
    with io.BufferedReader(_ChunkStream(chunks), buffer_size=CHUNK_SIZE) as stream:
        s3.upload_fileobj(stream, bucket, key, Config=config)


def open_version(s3: Any, bucket: str, key: str, *, version_id: str | None = None) -> Any:
    """The object's body (botocore's StreamingBody, closed by `with body:`): read as it arrives, never
    held whole."""
    request = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    return s3.get_object(**request)["Body"]


def read_bytes(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_bytes_if_present(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return read_bytes(s3, bucket, key)
    except s3.exceptions.NoSuchKey:
        return None


def put_json(s3: Any, bucket: str, key: str, document: Any) -> str | None:
    """Write `document` as JSON; the version id S3 gave the write (None in an unversioned bucket)."""
    response = s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document, indent=2, ensure_ascii=False).encode(),
                             ContentType="application/json")
    return response.get("VersionId")


# What HeadObject answers for a key, a version or a bucket that is not there (HEAD has no body, so
# only the status code names it; a delete marker's version answers 405):
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
_ABSENT = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "NoSuchBucket", "405", "MethodNotAllowed"}
_BAD_VERSION = {"400", "InvalidArgument"}


def head_version(s3: Any, bucket: str, key: str, *, version_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """(the key as stored, HeadObject of the version given, else of the current version).

    Event keys may arrive URL-encoded (space as '+'): the raw key is tried, then the decoded one.
    A key, version or bucket that is not there is the caller's mistake, told as a sentence."""
    candidates = [key]
    decoded = unquote_plus(key)
    if decoded != key:
        candidates.append(decoded)
    version = {"VersionId": version_id} if version_id else {}
    for candidate in candidates:
        try:
            return candidate, s3.head_object(Bucket=bucket, Key=candidate, **version)
        except s3.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _BAD_VERSION and version_id:
                raise RequestError(f"version {version_id!r} of s3://{bucket}/{candidate} is not a valid S3 version "
                                   "id; leave 'version_id' out to judge the current version") from None
            if code not in _ABSENT:
                raise
    tried = f" (also tried the URL-decoded key {decoded!r})" if decoded != key else ""
    what = f"version {version_id!r} of s3://{bucket}/{key}" if version_id else f"s3://{bucket}/{key}"
    raise RequestError(f"{what} does not exist{tried}: it was deleted or overwritten before it was read, or the "
                       "bucket/key in the execution input is misspelt (keys are case-sensitive); list the bucket "
                       "to find the key")


def upload_identity(bucket: str, key: str, head: Mapping[str, Any]) -> str:
    """One upload of an object: its version (the datasets bucket is versioned), else, in a bucket
    without versioning, its ETag and time of writing. Events delivered twice carry the same upload."""
    version = head.get("VersionId")
    if version and version != "null":
        return f"s3://{bucket}/{key}?versionId={version}"
    return f"s3://{bucket}/{key}?etag={head.get('ETag', '')}&modified={head.get('LastModified', '')}"
