"""`llmos --version`: llmos's version, the Claude Agent SDK's and its bundled CLI's.

Read from the installed files' metadata, never by importing the SDK (which takes most of a
second): `--version` stays as fast as `--help`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

SDK_DISTRIBUTION = "claude-agent-sdk"


def versions() -> dict[str, str | None]:
    """{"llmos": ..., "claude_agent_sdk": ..., "claude_code_cli": ...}; None: not installed
    (or not found)."""
    return {
        "llmos": _distribution_version("llmos"),
        "claude_agent_sdk": _distribution_version(SDK_DISTRIBUTION),
        "claude_code_cli": bundled_cli_version(),
    }


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def bundled_cli_version() -> str | None:
    """The version of the Claude Code CLI inside the SDK's wheel, from the files beside it
    (`_bundled/claude.version`, else `_cli_version.py`): `find_spec` locates a top-level
    package without running it."""
    try:
        spec = importlib.util.find_spec("claude_agent_sdk")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    try:
        text = (package / "_bundled" / "claude.version").read_text(encoding="utf-8").strip()
        if text:
            return text.split()[0]
    except OSError:
        pass
    try:
        source = (package / "_cli_version.py").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"__cli_version__\s*=\s*['\"]([^'\"]+)['\"]", source)
    return found.group(1) if found else None


def print_versions(*, as_json: bool = False) -> None:
    found = versions()
    if as_json:
        from llmos._internal.cli.json_output import print_json

        print_json(dict(found))
        return
    import typer

    typer.echo(f"llmos {found['llmos'] or 'unknown'}")
    typer.echo(f"claude-agent-sdk {found['claude_agent_sdk'] or 'not installed'}")
    typer.echo(f"claude code cli {found['claude_code_cli'] or 'not found'} (bundled with the SDK)")
