"""The launcher through which the SDK starts the Claude Code CLI under its keeper
(`cli_reaper.py`), so that the CLI and all it starts die with llmos, `kill -9` included.

The SDK starts whatever `ClaudeAgentOptions.cli_path` names with the CLI's arguments, so
the launcher is a two-line shell script (`exec python -I -S cli_reaper.py CLI "$@"`), made
once per interpreter, keeper and CLI in the user's cache folder (`~/.cache/llmos`, else a
private temporary folder) and reused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)


def bundled_cli() -> str | None:
    """The Claude Code CLI the SDK would start: the one in its wheel, else `claude` on PATH."""
    import claude_agent_sdk

    bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if bundled.is_file():
        return str(bundled)
    return shutil.which("claude")


def _folders() -> list[Path]:
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    private = Path(tempfile.gettempdir()) / f"llmos-{os.getuid()}"
    return [Path(cache_home) / "llmos", private]


@cache
def keeper_launcher() -> str | None:
    """The launcher's path, or None where the keeper cannot work (not Linux, no CLI found,
    nowhere to write): the SDK then starts the CLI itself, as it would without llmos."""
    if not sys.platform.startswith("linux"):
        return None
    cli = bundled_cli()
    if cli is None:
        return None
    keeper = Path(__file__).with_name("cli_reaper.py")
    command = shlex.join([sys.executable, "-I", "-S", str(keeper), cli])
    script = f'#!/bin/sh\nexec {command} "$@"\n'
    name = "claude-keeper-" + hashlib.sha256(script.encode()).hexdigest()[:16]
    for folder in _folders():
        path = folder / name
        try:
            if path.is_file() and path.read_text() == script and os.access(path, os.X_OK):
                return str(path)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            staging = folder / f".{name}.{os.getpid()}"
            staging.write_text(script)
            staging.chmod(0o755)
            staging.replace(path)
            return str(path)
        except OSError as exc:
            log.debug("cannot write the CLI launcher in %s: %s", folder, exc)
    log.warning(
        "no folder to write the CLI's launcher in: a killed llmos may leave the CLI running"
    )
    return None
