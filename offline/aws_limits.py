"""Where moto is more lenient than AWS, made strict: the one place that lists the limits AWS
enforces and moto does not, each with the AWS page that states it. All are on by default;
a test may turn one off (`OfflineJudgeflow(..., limits=AwsLimits(sns_subject=False))`).

Installed by `EmbeddedAws.start()` on moto's backends, so they hold for every caller: the
Lambdas (served over HTTP), the state machine's service tasks and the harness itself.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# "a maximum length of 1,024 bytes ... The prefix, the delimiter (/), and the name of the object
# are included" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
S3_KEY_MAX_BYTES = 1024
# Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less than
# 100 characters long" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
SNS_SUBJECT_MAX_CHARACTERS = 99
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# "States.ALL ... can't catch the States.DataLimitExceeded terminal error or Runtime error types"
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
UNCATCHABLE_BY_STATES_ALL = frozenset({"States.DataLimitExceeded", "States.Runtime"})

# Request rates past which a call is throttled, per X-Amz-Target: (requests per second, extra
# requests in one burst) and the error AWS answers with.
# Service Quotas publishes its rates (https://docs.aws.amazon.com/servicequotas/latest/userguide/reference_limits.html).
# SageMaker publishes none for its control plane; these figures are judgeflow's assumption, low
# enough that a burst of capacity checks meets them.
API_RATES: dict[str, tuple[float, int, str]] = {
    "ServiceQuotasV20190624.GetServiceQuota": (5, 5, "TooManyRequestsException"),
    "ServiceQuotasV20190624.GetAWSDefaultServiceQuota": (5, 5, "TooManyRequestsException"),
    "ServiceQuotasV20190624.ListServiceQuotas": (10, 10, "TooManyRequestsException"),
    "ServiceQuotasV20190624.ListAWSDefaultServiceQuotas": (10, 10, "TooManyRequestsException"),
    "SageMaker.ListTrainingJobs": (10, 10, "ThrottlingException"),
    "SageMaker.DescribeTrainingJob": (10, 10, "ThrottlingException"),
}


@dataclass(frozen=True)
class AwsLimits:
    """Which AWS limits the embedded AWS enforces (every one, unless a test says otherwise)."""

    s3_key_bytes: bool = True
    sns_subject: bool = True
    terminal_errors: bool = True  # States.ALL does not catch States.DataLimitExceeded / States.Runtime
    # Throttling past a rate (served calls: the Lambdas'), per X-Amz-Target; {} turns it off.
    api_rates: Mapping[str, tuple[float, int, str]] = field(default_factory=lambda: dict(API_RATES))


class RateLimiter:
    """A token bucket per throttled API: `throttled(target)` names the error of a call past its rate."""

    def __init__(self, rates: Mapping[str, tuple[float, int, str]], clock: Callable[[], float] = time.monotonic):
        self.rates = dict(rates)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # target -> (tokens, at)
        self._lock = threading.Lock()
        self.throttled_calls: list[str] = []

    def throttled(self, target: str) -> str | None:
        if target not in self.rates:
            return None
        rate, burst, error = self.rates[target]
        capacity = rate + burst
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(target, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate)
            if tokens < 1:
                self._buckets[target] = (tokens, now)
                self.throttled_calls.append(target)
                return error
            self._buckets[target] = (tokens - 1, now)
            return None


def install(limits: AwsLimits, replace: Callable[[Any, str, Any], None]) -> None:
    """Patch moto's backends; `replace(owner, name, value)` records each patch so it is undone."""
    if limits.s3_key_bytes:
        _limit_s3_keys(replace)
    if limits.sns_subject:
        _limit_sns_subjects(replace)
    if limits.terminal_errors:
        _uncatchable_terminal_errors(replace)


def _uncatchable_terminal_errors(replace: Callable[[Any, str, Any], None]) -> None:
    """moto's States.ALL matches every error; on AWS a catcher or retrier on it skips these two."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl

    original = ErrorEqualsDecl._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        if (ErrorEqualsDecl._STATE_ALL_ERROR in self.error_names
                and getattr(error_name, "error_name", None) in UNCATCHABLE_BY_STATES_ALL):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    replace(ErrorEqualsDecl, "_eval_body", _eval_body)


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
