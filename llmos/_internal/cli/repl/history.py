"""The prompt's history, kept in the workspace (`state/repl_history`).

One JSON string per line, so a multi-line goal stays one entry. The file is rewritten
atomically on each entry and keeps the most recent `limit` entries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import History

from llmos._internal.fsutil import atomic_write_text

log = logging.getLogger(__name__)
DEFAULT_LIMIT = 1000


class WorkspaceHistory(History):
    def __init__(self, path: Path, *, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self.path = path
        self.limit = limit

    def _read(self) -> list[str]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError):
            log.warning("cannot read the REPL history %s", self.path, exc_info=True)
            return []
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a damaged line costs that entry only
            if isinstance(entry, str):
                entries.append(entry)
        return entries

    def load_history_strings(self) -> Iterable[str]:
        return reversed(self._read())  # prompt_toolkit wants the newest first

    def store_string(self, string: str) -> None:
        entries = [*self._read(), string][-self.limit :]
        text = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        try:
            atomic_write_text(self.path, text)
        except OSError:
            log.warning("cannot write the REPL history %s", self.path, exc_info=True)
