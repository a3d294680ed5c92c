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
_BOUNDARY = re.compile(r"^-{3,}[ \t\r]*$", re.MULTILINE)
_SPACE = re.compile(r"\s*")


def load_yaml(text: str) -> Any:
    """The data in `text`, read safely (plain data only: no Python objects). YAMLError if bad."""
    return yaml.load(text, Loader=_LOADER)  # _LOADER is a safe loader


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown text (a mapping, or {} when it has none) and the
    body after it, stripped. YAMLError if the front matter is not valid YAML."""
    data, body_at = front_matter_at(text)
    return data, text[body_at:].strip()


def front_matter_at(text: str) -> tuple[dict[str, Any], int]:
    """The YAML front matter of a Markdown text ({} when it has none) and where its body
    starts: positions, not copies (a trace can hold a step of a hundred megabytes)."""
    start = _SPACE.match(text)
    opening = _BOUNDARY.match(text, start.end() if start else 0)
    closing = _BOUNDARY.search(text, opening.end()) if opening else None
    if opening is None or closing is None:  # no front matter, or it never closes: all body
        return {}, 0
    data = load_yaml(text[opening.end() : closing.start()])
    return (data if isinstance(data, dict) else {}), closing.end()
