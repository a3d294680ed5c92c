"""Where traces live: `<workspace>/memories/traces/<goal_signature>.md`, one file per goal."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

from llmos.errors import TraceFormatError
from llmos.fsutil import atomic_write_text
from llmos.memory.trace import Trace, parse, render, success_rating

log = logging.getLogger(__name__)


class TraceStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, signature: str) -> Path:
        return self.folder / f"{signature}.md"

    def save(self, trace: Trace) -> Path:
        """Write `trace`, merging the statistics of an earlier trace of the same goal."""
        path = self.path_for(trace.goal_signature)
        previous = self._load_quietly(path)
        if previous is not None:
            successes = previous.success_count + trace.success_count
            failures = previous.failure_count + trace.failure_count
            trace = dataclasses.replace(
                trace,
                created_at=previous.created_at,
                usage_count=previous.usage_count + trace.usage_count,
                success_count=successes,
                failure_count=failures,
                success_rating=success_rating(successes, failures),
            )
        return self.write(trace, path)

    def write(self, trace: Trace, path: Path | None = None) -> Path:
        """Write `trace` as it is (no merging), atomically."""
        path = path or self.path_for(trace.goal_signature)
        atomic_write_text(path, render(trace))
        return path

    def load_file(self, path: Path) -> Trace:
        return parse(path.read_text(encoding="utf-8"), source=str(path))

    def load(self, signature: str) -> Trace:
        path = self.path_for(signature)
        return parse(path.read_text(encoding="utf-8"), source=str(path))

    def count(self) -> int:
        return sum(1 for _ in self.folder.glob("*.md"))

    def iter_traces(self) -> Iterator[tuple[Path, Trace]]:
        """Every readable trace; a corrupt file is logged and skipped, never fatal."""
        for path in sorted(self.folder.glob("*.md")):
            trace = self._load_quietly(path)
            if trace is not None:
                yield path, trace

    @staticmethod
    def _load_quietly(path: Path) -> Trace | None:
        try:
            return parse(path.read_text(encoding="utf-8"), source=str(path))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, TraceFormatError) as exc:
            log.warning("skipping unreadable trace %s: %s", path, exc)
            return None
