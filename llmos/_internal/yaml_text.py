"""YAML as llmos reads it: settings, policies, and the front matter of Markdown files
(traces, facts, insights).

Reading goes through libyaml's C loader when PyYAML was built with it (it is in the
published wheels), several times faster than the pure-Python one for the same result.
Front matter is python-frontmatter's format (a block between lines of three or more dashes).

PyYAML and python-frontmatter are imported when a text is first parsed, not with this module:
a replay finds the YAML texts it reads already parsed (`yaml_cache.py`) and loads neither
(about 15 ms of its start-up).
"""

from __future__ import annotations

import re
from typing import Any

# python-frontmatter's boundary: a line of three or more dashes.
_BOUNDARY = re.compile(r"^-{3,}\s*$", re.MULTILINE)
_SPACE = re.compile(r"\s*")


class YAMLError(ValueError):
    """A text that is not valid YAML; the message is the parser's (where, and what)."""


def load_yaml(text: str) -> Any:
    """The data in `text`, read safely (plain data only: no Python objects). YAMLError if bad."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # both are safe loaders
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise YAMLError(str(exc)) from exc


def dump_yaml(data: Any, **options: Any) -> str:
    """`data` as YAML (`yaml.safe_dump` and its options)."""
    import yaml

    text: str = yaml.safe_dump(data, **options)
    return text


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a Markdown text (a mapping, or {} when it has none) and the
    body after it, stripped. YAMLError if the front matter is not valid YAML."""
    import frontmatter
    from frontmatter.default_handlers import YAMLHandler

    class SafeFrontMatter(YAMLHandler):
        def load(self, fm: str, **kwargs: object) -> Any:
            return load_yaml(fm)

    data, body = frontmatter.parse(text, handler=SafeFrontMatter())
    return dict(data), body.strip()


def front_matter_span(text: str) -> tuple[int, int, int] | None:
    """Where a Markdown text's front matter is: (start of its YAML, end of its YAML, start of
    the body), or None when it has none or it never closes. Positions, not copies: a trace
    can hold a step of a hundred megabytes. The YAML starts on the line after the opening
    dashes, so it is the same text a reader of the file's lines gets."""
    start = _SPACE.match(text)
    opening = _BOUNDARY.match(text, start.end() if start else 0)
    closing = _BOUNDARY.search(text, opening.end()) if opening else None
    if opening is None or closing is None:
        return None
    line_end = text.find("\n", opening.start(), closing.start())
    yaml_start = line_end + 1 if line_end != -1 else opening.end()
    return yaml_start, closing.start(), closing.end()
