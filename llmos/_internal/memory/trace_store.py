"""Where traces live: `<workspace>/memories/traces/<goal signature>.md`, one file per goal.

Learning a goal again never destroys what was known: the file it replaces is kept under
`.versions/<signature>/`, and a file that cannot be read is never written over: it is set
aside under `.unreadable/` and reported.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from llmos._internal.errors import TraceFormatError
from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_stream, atomic_write_text
from llmos._internal.memory.trace import Trace, front_matter_yaml, parse, render
from llmos._internal.usage import Usage
from llmos._internal.yaml_cache import load_yaml_file, remember
from llmos._internal.yaml_text import YAMLError, front_matter_span

# A front matter longer than this is not one llmos wrote.
_MAX_HEAD_BYTES = 1024 * 1024

log = logging.getLogger(__name__)


@frozen
class Saved:
    """Where a trace was saved, and what became of the file it replaced."""

    path: Path
    previous: Trace | None = None  # the trace the file held before (its copy is kept)
    kept: Path | None = None  # where that earlier version, or an unreadable file, went


class TraceStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, signature: str) -> Path:
        return self.folder / f"{signature}.md"

    @property
    def versions_dir(self) -> Path:
        return self.folder / ".versions"

    @property
    def unreadable_dir(self) -> Path:
        return self.folder / ".unreadable"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise read-modify-write updates of traces across processes (an exclusive
        flock, released by the OS however the holder ends)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def replace(self, trace: Trace, path: Path | None = None) -> Saved:
        """Write `trace`; what the file held before is kept as a version (or, unreadable,
        set aside): never lost. Call with the lock held."""
        path = path or self.path_for(trace.goal_signature)
        previous: Trace | None = None
        kept: Path | None = None
        if path.exists():
            try:
                previous = self.load_file(path)
                kept = self._keep(path, self.versions_dir / path.stem)
            except (OSError, UnicodeDecodeError, TraceFormatError) as exc:
                kept = self._keep(path, self.unreadable_dir, move=True)
                log.debug("set aside unreadable trace %s as %s: %s", path, kept, exc)
        self.write(trace, path)
        return Saved(path, previous, kept)

    def count_use(self, path: Path, *, ok: bool) -> dict[str, Any]:
        """Count one more use of the trace at `path` in its front matter, rewriting the head
        of the file only: its steps are copied as bytes, never parsed (a step can be a
        hundred megabytes). Returns the new front matter. Call with the lock held."""
        with path.open("rb") as source:
            head, offset = _read_head(source, str(path))
            before = _front_matter(head, str(path))
            meta = {**before, **Usage.from_meta(before).counted(ok=ok).fields()}
            counted = _with_counts(head, before, meta)
            source.seek(offset)
            atomic_write_stream(path, b"---\n" + counted + b"---\n", source)
        remember(counted.decode("utf-8"), path, meta)  # the next replay reads it parsed
        return meta

    def write(self, trace: Trace, path: Path | None = None) -> Path:
        """Write `trace` as it is, atomically; its front matter is kept parsed for the first
        replay (yaml_cache)."""
        path = path or self.path_for(trace.goal_signature)
        text = render(trace)
        atomic_write_text(path, text)
        span = front_matter_span(text)
        if span is not None:
            load_yaml_file(text[span[0] : span[1]], path)
        return path

    def versions(self, signature: str) -> list[Path]:
        folder = self.versions_dir / signature
        return sorted(folder.glob("*.md")) if folder.is_dir() else []

    def load_file(self, path: Path) -> Trace:
        return parse(path.read_text(encoding="utf-8"), source=str(path))

    def load(self, signature: str) -> Trace:
        return self.load_file(self.path_for(signature))

    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("*.md"))

    def iter_traces(self) -> Iterator[tuple[Path, Trace]]:
        """Every readable trace; a corrupt file is skipped here (the index reports it)."""
        for path in sorted(self.folder.glob("*.md")):
            try:
                yield path, self.load_file(path)
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError, TraceFormatError) as exc:
                log.debug("skipping unreadable trace %s: %s", path, exc)

    @staticmethod
    def _keep(path: Path, folder: Path, *, move: bool = False) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"{path.stem}.{stamp}.md" if move else folder / f"{stamp}.md"
        if move:
            path.replace(target)
        else:
            atomic_write_text(target, path.read_text(encoding="utf-8"))
        return target


def _read_head(source: IO[bytes], where: str) -> tuple[bytes, int]:
    """The front matter's lines (between its `---` lines) and the offset after it."""
    if source.readline().rstrip(b"\r\n") != b"---":
        raise TraceFormatError("no YAML front matter", path=where)
    lines: list[bytes] = []
    while True:
        line = source.readline()
        if not line or source.tell() > _MAX_HEAD_BYTES:
            raise TraceFormatError("its front matter never ends", path=where)
        if line.rstrip(b"\r\n") == b"---":
            return b"".join(lines), source.tell()
        lines.append(line)


def _front_matter(head: bytes, where: str) -> dict[str, Any]:
    try:
        meta = load_yaml_file(head.decode("utf-8"), where)
    except (YAMLError, UnicodeDecodeError) as exc:
        raise TraceFormatError(f"front matter is not valid YAML ({exc})", path=where) from exc
    if not isinstance(meta, dict):
        raise TraceFormatError("no YAML front matter", path=where)
    return meta


_COUNTS = ("usage_count", "success_count", "failure_count", "success_rating", "last_used")
# A count's line as llmos writes it: `key: value`, the value an integer, a decimal or a time
# in single quotes: forms YAML reads one way only.
_COUNT_LINE = re.compile(rb"([a-z_]+): (-?[0-9]+(?:\.[0-9]+)?|'[^'\\\n]*')\r?")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _with_counts(head: bytes, before: dict[str, Any], meta: dict[str, Any]) -> bytes:
    """The front matter `head` (read as `before`) with its counts set to `meta`'s, replaced
    line by line (the rest as it was: a hand edit's comments and layout survive), or dumped
    anew unless each count has exactly one line in the form llmos writes (`_COUNT_LINE`),
    which reads as the value it had. Either way YAML reads the result exactly as `meta`:
    `count_use` keeps that parse (yaml_cache)."""
    lines = head.split(b"\n")
    where: dict[str, int] = {}
    for i, line in enumerate(lines):
        key = line.split(b":", 1)[0].decode("utf-8", "replace")
        if key not in _COUNTS:
            continue
        match = _COUNT_LINE.fullmatch(line)
        if match is None or key in where or _shown(before.get(key)) != match[2].decode():
            return front_matter_yaml(meta).encode()
        where[key] = i
    if len(where) != len(_COUNTS):
        return front_matter_yaml(meta).encode()
    for key, i in where.items():
        shown = _shown(meta[key])
        if shown is None:
            return front_matter_yaml(meta).encode()
        lines[i] = f"{key}: {shown}".encode()
    return b"\n".join(lines)


def _shown(value: Any) -> str | None:
    """`value` in a `_COUNT_LINE` form, or None if it has none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and _DECIMAL.fullmatch(repr(value)):
        return repr(value)
    if isinstance(value, str) and _COUNT_LINE.fullmatch(f"k: '{value}'".encode()):
        return f"'{value}'"
    return None
