"""YAML as llmos reads it: settings, policies, and the front matter of Markdown files
(traces, facts, insights).

Reading goes through libyaml's C loader when PyYAML was built with it (it is in the
published wheels), several times faster than the pure-Python one for the same result.
Front matter is python-frontmatter's format, read with its YAML handler on that loader.
"""

from __future__ import annotations

import re
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

YAMLError = yaml.YAMLError
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SPACE = re.compile(r"\s*")


class _FrontMatter(YAMLHandler):
    """python-frontmatter's YAML front matter (a block between lines of three or more
    dashes), its YAML read by libyaml's safe loader."""

    def load(self, fm: str, **kwargs: object) -> Any:
        return load_yaml(fm)


_FRONT_MATTER = _FrontMatter()
_BOUNDARY = _FRONT_MATTER.FM_BOUNDARY


def load_yaml(text: str) -> Any:
    """The data in `text`, read safely (plain data only: no Python objects). YAMLError if bad."""
    return yaml.load(text, Loader=_LOADER)  # _LOADER is a safe loader


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown text (a mapping, or {} when it has none) and the
    body after it, stripped. YAMLError if the front matter is not valid YAML."""
    data, body = frontmatter.parse(text, handler=_FRONT_MATTER)
    return dict(data), body.strip()


def front_matter_at(text: str) -> tuple[dict[str, Any], int]:
    """The YAML front matter of a Markdown text ({} when it has none) and where its body
    starts: positions, not copies (a trace can hold a step of a hundred megabytes, which
    `frontmatter.parse` would copy twice), with the same boundary and loader."""
    start = _SPACE.match(text)
    opening = _BOUNDARY.match(text, start.end() if start else 0)
    closing = _BOUNDARY.search(text, opening.end()) if opening else None
    if opening is None or closing is None:  # no front matter, or it never closes: all body
        return {}, 0
    data = load_yaml(text[opening.end() : closing.start()])
    return (data if isinstance(data, dict) else {}), closing.end()
