"""Run notifications (SNS)."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

# SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less
# than 100 characters long" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
MAX_SUBJECT_LENGTH = 99
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


def notify(sns: Any, topic_arn: str, *, subject: str, message: Mapping[str, Any]) -> None:
    if topic_arn:
        sns.publish(TopicArn=topic_arn, Subject=email_subject(subject),
                    Message=json.dumps(message, indent=2, default=str))


def email_subject(text: str) -> str:
    """`text` as SNS accepts a subject: control characters (a line break in a file name) become a
    space, and a longer text is cut with "..." (the message itself carries everything)."""
    text = _CONTROL_CHARACTERS.sub(" ", text)
    return text if len(text) <= MAX_SUBJECT_LENGTH else text[:MAX_SUBJECT_LENGTH - 3] + "..."
