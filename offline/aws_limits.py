"""Where moto is more lenient than AWS, made strict: the one place that lists the limits AWS
enforces and moto does not, each with the AWS page that states it. All are on by default;
a test may turn one off (`OfflineJudgeflow(..., limits=AwsLimits(sns_subject=False))`).

Installed by `EmbeddedAws.start()` on moto's backends, so they hold for every caller: the
Lambdas (served over HTTP), the state machine's service tasks and the harness itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

# "a maximum length of 1,024 bytes ... The prefix, the delimiter (/), and the name of the object
# are included" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
S3_KEY_MAX_BYTES = 1024
# Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less than
# 100 characters long" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
SNS_SUBJECT_MAX_CHARACTERS = 99
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AwsLimits:
    """Which AWS limits the embedded AWS enforces (every one, unless a test says otherwise)."""

    s3_key_bytes: bool = True
    sns_subject: bool = True


def install(limits: AwsLimits, replace: Callable[[Any, str, Any], None]) -> None:
    """Patch moto's backends; `replace(owner, name, value)` records each patch so it is undone."""
    if limits.s3_key_bytes:
        _limit_s3_keys(replace)
    if limits.sns_subject:
        _limit_sns_subjects(replace)


def _limit_s3_keys(replace: Callable[[Any, str, Any], None]) -> None:
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import S3Backend

    def check(key: str) -> None:
        if len(key.encode("utf-8")) > S3_KEY_MAX_BYTES:
            raise S3ClientError("KeyTooLongError", "Your key is too long")

    # method -> the key's argument name and its position after self
    for method, (argument, position) in {"put_object": ("key_name", 1), "create_multipart_upload": ("key_name", 1),
                                         "copy_object": ("dest_key_name", 2)}.items():
        original = getattr(S3Backend, method)

        def limited(self: Any, *args: Any, _original: Any = original, _argument: str = argument,
                    _position: int = position, **kwargs: Any) -> Any:
            check(kwargs[_argument] if _argument in kwargs else args[_position])
            return _original(self, *args, **kwargs)

        replace(S3Backend, method, limited)


def _limit_sns_subjects(replace: Callable[[Any, str, Any], None]) -> None:
    from moto.sns.exceptions import InvalidParameterValue
    from moto.sns.models import SNSBackend

    original = SNSBackend.publish

    def publish(self: Any, message: str, arn: str | None, phone_number: str | None = None,
                subject: str | None = None, **kwargs: Any) -> str:
        if subject is not None and (len(subject) > SNS_SUBJECT_MAX_CHARACTERS or _CONTROL_CHARACTERS.search(subject)):
            raise InvalidParameterValue("Subject must be less than 100 characters, with no line breaks or control "
                                        "characters")
        return original(self, message, arn, phone_number, subject, **kwargs)

    replace(SNSBackend, "publish", publish)
