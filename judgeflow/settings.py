"""Deployment settings: one typed object, built from `cdk.json` context and validated once.

The same values reach the Lambdas as JSON in one environment variable (judgeflow.environment).
Every field documents its default in `DEFAULTS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from judgeflow.errors import SettingsError

TASKS = ("llm_judge", "rubric_llm_judge")
JUDGE_MODELS = ("micro", "lite", "pro", "lite-2")

# Defaults applied when a cdk.json context key is absent. Documented in README "Configuration".
DEFAULTS: dict[str, Any] = {
    # Region judgeflow deploys to; the Nova evaluation image must be known for it.
    "region": "us-east-1",
    # Region -> Nova evaluation container image. Only us-east-1 is confirmed by AWS pages;
    # us-west-2 uses account 176779409107. Add regions here, never in code.
    "nova_images": {
        "us-east-1": "708977205387.dkr.ecr.us-east-1.amazonaws.com/nova-evaluation-repo:SM-TJ-Eval-V2-latest",
        "us-west-2": "176779409107.dkr.ecr.us-west-2.amazonaws.com/nova-evaluation-repo:SM-TJ-Eval-V2-latest",
    },
    # Instance types tried in order; each run only uses those its recipe allows.
    "instance_preferences": ["ml.g5.12xlarge", "ml.g5.24xlarge", "ml.g6.12xlarge", "ml.g6.24xlarge", "ml.p5.48xlarge"],
    "default_task": "llm_judge",
    "default_judge_model": "micro",
    # Capacity wait loop: first wait, backoff cap, and total budget before the run fails. The cap
    # bounds how long a freed slot can sit idle before a waiting run sees it: a few minutes against
    # judge jobs of tens of minutes, for one cheap check per waiting run per cap interval.
    "capacity_wait_initial_seconds": 60,
    "capacity_wait_max_seconds": 180,
    "capacity_wait_total_seconds": 86400,
    # A reservation not confirmed by a running job within this time is considered stale.
    "reservation_ttl_seconds": 3600,
    # Nova training job hard stop (the SageMaker SDK default for recipes).
    "max_runtime_seconds": 86400,
    # How long the run waits for the results Lambda after the job completed.
    "results_timeout_seconds": 7200,
    # Bounds on a judge output archive, checked while it streams (a compression bomb is refused
    # once past them): what it may unpack to in all, and how many entries it may hold. The results
    # function holds the unpacked files in memory (3,008 MB): 1 GiB leaves room for the tables.
    "results_max_unpacked_bytes": 1 << 30,
    "results_max_members": 10_000,
    # Validation limits.
    "token_limit": 7000,
    "max_rows": 100000,
    "max_errors_reported": 50,
    # Optional e-mail subscribed to run notifications ("" = none).
    "notification_email": "",
}

# What each key does, one sentence each, for people: docs/settings.md is generated from DEFAULTS and
# this mapping (`python -m judgeflow.docs_reference`), and tests/domain/test_docs.py fails when a key
# has no sentence here or the page is out of date.
SETTING_DOCS: dict[str, str] = {
    "region": "The AWS region the stacks and the judge jobs run in; `nova_images` must name an image for it.",
    "nova_images": "Maps each region to its Nova evaluation container image; only the us-east-1 image is "
                   "confirmed by AWS pages.",
    "instance_preferences": "SageMaker instance types tried in this order; each run uses only those its judge "
                            "recipe allows (a run's `instance-types` setting replaces the list).",
    "default_task": "The judge task of a run that does not name one (`llm_judge` or `rubric_llm_judge`).",
    "default_judge_model": "The judge model of a run that does not name one (`micro`, `lite`, `pro` or `lite-2`).",
    "capacity_wait_initial_seconds": "The first wait of a run that found no free quota; each later wait doubles, "
                                     "with 20 % jitter.",
    "capacity_wait_max_seconds": "The longest single wait between capacity checks; it bounds how late capacity "
                                 "freed outside judgeflow is noticed (a release by judgeflow wakes the next run "
                                 "at once).",
    "capacity_wait_total_seconds": "How long a run may wait for capacity in all before it fails with the quota's "
                                   "name, value, use and how to request an increase.",
    "reservation_ttl_seconds": "A capacity reservation that no running job has used by then stops counting "
                               "against the quota.",
    "max_runtime_seconds": "The judge training job's hard stop (MaxRuntimeInSeconds, the SageMaker SDK's default "
                           "for recipes).",
    "results_timeout_seconds": "How long a run waits for the results stage after its judge job ended before it "
                               "fails.",
    "results_max_unpacked_bytes": "The most a judge output archive may unpack to; past it the run fails with "
                                  "this setting named (checked while the archive streams).",
    "results_max_members": "The most entries a judge output archive may hold; past it the run fails with this "
                           "setting named.",
    "token_limit": "The largest estimated size of one record in tokens (characters of the three fields / 4, plus "
                   "300 for the judge's instructions); a longer record rejects the file.",
    "max_rows": "The most records a dataset may hold; a longer file is rejected.",
    "max_errors_reported": "How many findings a validation report lists in full; the rest are counted by kind.",
    "notification_email": "An e-mail address subscribed to run notifications; empty for none.",
}

@dataclass(frozen=True, kw_only=True)
class Settings:
    region: str
    nova_images: Mapping[str, str]
    instance_preferences: tuple[str, ...]
    default_task: str
    default_judge_model: str
    capacity_wait_initial_seconds: int
    capacity_wait_max_seconds: int
    capacity_wait_total_seconds: int
    reservation_ttl_seconds: int
    max_runtime_seconds: int
    results_timeout_seconds: int
    results_max_unpacked_bytes: int
    results_max_members: int
    token_limit: int
    max_rows: int
    max_errors_reported: int
    notification_email: str = ""

    @property
    def nova_image(self) -> str:
        return self.nova_images[self.region]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "Settings":
        merged = {**DEFAULTS, **(values or {})}
        unknown = sorted(set(merged) - set(DEFAULTS))
        if unknown:
            raise SettingsError(
                f"cdk.json context 'judgeflow' has unknown keys {unknown}; allowed keys: {sorted(DEFAULTS)}"
            )
        for name in (n for n, v in DEFAULTS.items() if isinstance(v, int)):
            value = merged[name]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SettingsError(f"cdk.json context judgeflow.{name} must be a positive integer, got {value!r}")
        if merged["capacity_wait_initial_seconds"] > merged["capacity_wait_max_seconds"]:
            raise SettingsError(
                "judgeflow.capacity_wait_initial_seconds must not exceed judgeflow.capacity_wait_max_seconds"
            )
        if merged["region"] not in merged["nova_images"]:
            raise SettingsError(
                f"No Nova evaluation image configured for region {merged['region']!r}; add it to "
                f"cdk.json context judgeflow.nova_images (known: {sorted(merged['nova_images'])})"
            )
        if merged["default_task"] not in TASKS:
            raise SettingsError(f"judgeflow.default_task must be one of {list(TASKS)}, got {merged['default_task']!r}")
        if merged["default_judge_model"] not in JUDGE_MODELS:
            raise SettingsError(
                f"judgeflow.default_judge_model must be one of {list(JUDGE_MODELS)}, "
                f"got {merged['default_judge_model']!r}"
            )
        prefs = merged["instance_preferences"]
        if not prefs or not all(isinstance(p, str) and p.startswith("ml.") for p in prefs):
            raise SettingsError(
                "judgeflow.instance_preferences must be a non-empty list of SageMaker instance types like "
                f"'ml.g5.12xlarge', got {prefs!r}"
            )
        return cls(**{**{name: merged[name] for name in DEFAULTS},
                      "nova_images": dict(merged["nova_images"]), "instance_preferences": tuple(prefs)})

    def to_json(self) -> str:
        data = {name: getattr(self, name) for name in DEFAULTS}
        data["instance_preferences"] = list(self.instance_preferences)
        data["nova_images"] = dict(self.nova_images)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "Settings":
        """The settings `to_json` wrote (defaults when there is no text)."""
        return cls.from_mapping(json.loads(text) if text else None)
