"""YAML as llmos reads it: settings, policies, and the front matter of Markdown files
(traces, facts, insights).

Reading goes through libyaml's C loader when PyYAML was built with it (it is in the
published wheels), several times faster than the pure-Python one for the same result.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

YAMLError = yaml.YAMLError
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A front matter block opens and closes with a line of three or more dashes.
_BOUNDARY = re.compile(r"^-{3,}\s*$", re.MULTILINE)


def load_yaml(text: str) -> Any:
    """The data in `text`, read safely (plain data only: no Python objects). YAMLError if bad."""
    return yaml.load(text, Loader=_LOADER)  # _LOADER is a safe loader


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown text (a mapping, or {} when it has none) and the
    body after it, both stripped. YAMLError if the front matter is not valid YAML."""
    text = text.strip()
    if not _BOUNDARY.match(text):
        return {}, text
    parts = _BOUNDARY.split(text, 2)
    if len(parts) < 3:  # an opening line with no closing one: all body
        return {}, text
    data = load_yaml(parts[1])
    return (data if isinstance(data, dict) else {}), parts[2].strip()
