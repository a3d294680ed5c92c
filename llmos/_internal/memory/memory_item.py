"""L4 memory items: facts and insights, one Markdown file each.

    ---
    tags: [python, build]
    created_at: '2026-01-31T09:00:00+00:00'
    source: user                 # user | run:<run id> | distill:<run id> | file
    ---
    The text of the fact or insight.

A fact is something worth knowing before a run (written by the user or distilled by the
model); an insight is what llmos noted after a successful run (what worked, tools, cost,
time), written without a model call. The file is the source of truth. Its name (without
`.md`) is the item's id, and its folder says its kind and scope (the workspace's
`memories/facts/` and `memories/insights/`, or a project's `projects/NAME/memory/facts/`
and `.../insights/`); neither is taken from the front matter, so moving a file by hand moves
the item. Front matter is optional: a plain Markdown file dropped into a facts folder is a
fact. Other front-matter keys (an insight's run statistics) are kept as `meta`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from llmos._internal.errors import LlmosError, UsageError
from llmos._internal.frozen import frozen
from llmos._internal.usage import now_iso
from llmos._internal.yaml_text import YAMLError, dump_yaml, split_front_matter

Kind = Literal["fact", "insight"]
KINDS: tuple[Kind, ...] = ("fact", "insight")
FOLDER_OF_KIND: dict[Kind, str] = {"fact": "facts", "insight": "insights"}
MAX_TEXT_CHARS = 20_000
_TAG = re.compile(r"^[\w][\w.+-]{0,39}$")
_ID = re.compile(r"^[\w][\w.-]{0,99}$")


class MemoryFormatError(LlmosError):
    """A memory file cannot be read back."""


@frozen
class MemoryItem:
    """One fact or insight, as its Markdown file holds it."""

    id: str
    kind: Kind
    text: str
    project: str | None = None  # None: the workspace (every project recalls it)
    tags: tuple[str, ...] = ()
    created_at: str = field(default_factory=now_iso)
    source: str = "user"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return "workspace" if self.project is None else f"project {self.project}"

    @property
    def trace(self) -> str:
        """The goal signature of the trace an insight is about ("" for facts)."""
        return str(self.meta.get("trace") or "")

    @property
    def distilled(self) -> bool:
        """An insight already merged into facts (`llmos memory distill`)."""
        return bool(self.meta.get("distilled_at"))


def new_id() -> str:
    return secrets.token_hex(5)


def check_id(item_id: str) -> str:
    if not _ID.match(item_id):
        raise UsageError(f"invalid memory id {item_id!r}", hint="See `llmos memory list`.")
    return item_id


def clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise UsageError("the text is empty", hint='Say what to remember: llmos memory add "…".')
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(f"the text is {len(text)} characters; at most {MAX_TEXT_CHARS} fit")
    return text


def clean_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    cleaned: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip().lower()
        if not _TAG.match(tag):
            raise UsageError(
                f"invalid tag {tag!r}",
                hint="A tag is one word of up to 40 letters, digits, '_', '.', '+' or '-'.",
            )
        cleaned.setdefault(tag, None)
    return tuple(cleaned)


def render(item: MemoryItem) -> str:
    meta: dict[str, Any] = {
        "tags": list(item.tags),
        "created_at": item.created_at,
        "source": item.source,
        **item.meta,
    }
    head = dump_yaml(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{head}---\n\n{item.text.strip()}\n"


def parse(text: str, *, path: Path, kind: Kind, project: str | None) -> MemoryItem:
    """The item in a file's `text`; its id, kind and scope come from where the file is."""
    try:
        meta, body = split_front_matter(text)
    except YAMLError as exc:
        raise MemoryFormatError(f"{path}: front matter is not valid YAML ({exc})") from exc
    tags = meta.pop("tags", None) or []
    if not isinstance(tags, list):
        tags = [tags]
    created = meta.pop("created_at", None)
    source = meta.pop("source", None)
    return MemoryItem(
        id=path.stem,
        kind=kind,
        text=body,
        project=project,
        tags=tuple(str(t).strip().lower() for t in tags if str(t).strip()),
        created_at=str(created) if created else _mtime_iso(path),
        source=str(source) if source else "file",
        meta=meta,
    )


def _mtime_iso(path: Path) -> str:
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return now_iso()
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
