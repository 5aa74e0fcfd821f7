"""Run notifications (SNS)."""

from __future__ import annotations

import json
from typing import Any, Mapping

# SNS refuses a subject longer than 100 characters.
MAX_SUBJECT_LENGTH = 100


def notify(sns: Any, topic_arn: str, *, subject: str, message: Mapping[str, Any]) -> None:
    if topic_arn:
        sns.publish(TopicArn=topic_arn, Subject=subject[:MAX_SUBJECT_LENGTH],
                    Message=json.dumps(message, indent=2, default=str))
