"""The files a run writes, as the policy follows them: so that a step running a script that
an earlier step wrote (``Write cleanup.sh`` then ``sh cleanup.sh``) is judged by what that
script does.

`RunFiles` is a run's memory (the run guard keeps one): the text each Write, Edit or
MultiEdit left in a file, and what shell commands wrote (``cat > x.sh <<EOF``), or None when
a step changed a file in a way the policy cannot know (``sed -i``, a download). `FileView`
is what one command sees while it is analysed: the files it wrote itself so far, then the
run's memory, then the disk.

Files found on disk are read when a command runs them as a program (a script, a Makefile, a
package.json), up to `MAX_SCRIPT_BYTES`, and only regular text files: never a device,
``/proc`` or ``/sys``.
"""

# No `from __future__ import annotations` here: NamedTuple compiles string annotations at
# import (see shell_types).

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from llmos._internal.security.shell_types import Origin

MAX_SCRIPT_BYTES = 256 * 1024
_NEVER_READ = ("/dev/", "/proc/", "/sys/")


class Text(NamedTuple):
    """A file's text as the policy knows it, and where that knowledge comes from."""

    text: str | None  # None: the file exists (or will) but its text is not known
    origin: Origin  # "written": written in this command or run; "disk": found on disk


class RunFiles:
    """What the steps of one run wrote: path -> text (None when not known)."""

    def __init__(self) -> None:
        self._texts: dict[str, str | None] = {}

    def get(self, path: str) -> Text | None:
        if path not in self._texts:
            return None
        return Text(self._texts[path], "written")

    def remember(self, path: str, text: str | None) -> None:
        self._texts[path] = text

    def learn(self, written: Mapping[str, str | None]) -> None:
        self._texts.update(written)

    def paths(self) -> Iterable[str]:
        return self._texts.keys()

    def edited(self, path: str, tool_input: Mapping[str, Any]) -> str | None:
        """The text an Edit or MultiEdit call leaves in `path`, or None when the text it
        starts from is not known or an edit does not apply."""
        base = FileView(self).read(path)
        if base is None or base.text is None:
            return None
        edits = tool_input.get("edits")
        if not isinstance(edits, list):
            edits = [tool_input]
        text = base.text
        for edit in edits:
            if not isinstance(edit, Mapping):
                return None
            old, new = edit.get("old_string"), edit.get("new_string")
            if not isinstance(old, str) or not isinstance(new, str) or old not in text:
                return None
            text = text.replace(old, new) if edit.get("replace_all") else text.replace(old, new, 1)
        return text


class FileView:
    """The files one command sees while it is analysed: what it wrote itself (shared by its
    subshells), then what the run wrote before it, then the disk."""

    def __init__(self, run: RunFiles | None = None) -> None:
        self.run = run
        self.written: dict[str, str | None] = {}  # by this command, in order

    def read(self, path: str) -> Text | None:
        """What is known of the file at `path` (absolute, resolved), or None if nothing is
        (it does not exist, or is not a text file the policy reads)."""
        if path in self.written:
            text = self.written[path]
            return Text(text, "written") if text is not None else _disk(path, "written")
        known = self.run.get(path) if self.run is not None else None
        if known is not None:
            return known if known.text is not None else _disk(path, "written")
        return _disk(path, "disk")

    def write(self, path: str, text: str | None, *, append: bool = False) -> None:
        if append and text is not None:
            before = self.read(path)
            if before is None:
                pass  # a new file: the appended text is all of it
            elif before.text is None:
                text = None
            else:
                text = before.text + text
        self.written[path] = text

    def remembers(self, path: str) -> bool:
        """Whether this command or the run wrote `path` (its text may still be unknown)."""
        return path in self.written or (self.run is not None and self.run.get(path) is not None)


def _disk(path: str, origin: Origin) -> Text | None:
    if path.startswith(_NEVER_READ):
        return Text(None, origin) if origin == "written" else None
    file = Path(path)
    try:
        if not file.is_file() or file.stat().st_size > MAX_SCRIPT_BYTES:
            return Text(None, origin) if origin == "written" else None
        with file.open("rb") as handle:
            data = handle.read(4096)
            if b"\0" in data:  # a binary program: nothing to read
                return Text(None, origin)
            data += handle.read(MAX_SCRIPT_BYTES)
    except OSError:
        return Text(None, origin) if origin == "written" else None
    if b"\0" in data:
        return Text(None, origin)
    return Text(data.decode("utf-8", errors="replace"), origin)
