"""JSON Schemas shipped with the package: the dataset of each task and the per-run settings."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """The schema `<name>.schema.json` of this package, e.g. load("llm_judge")."""
    from importlib import resources  # only when a schema is read: not on the path of a valid file

    return json.loads(resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8"))
