"""ruff and mypy are part of the test suite, so the one test command checks them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint() -> None:
    proc = _run("ruff", "check", "llmos", "tests", "bench", "plugins")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = _run("ruff", "format", "--check", "llmos", "tests", "bench", "plugins")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy() -> None:
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_llmos_sdk_imports_the_sdk() -> None:
    importers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "llmos").rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lstrip().startswith(("import claude_agent_sdk", "from claude_agent_sdk"))
    }
    # The SDK bridge is the llmos/sdk/ package: runner.py, and adapters such as
    # plugin_tools.py (plugin tools as in-process MCP servers), all imported lazily.
    assert importers and all(path.startswith("llmos/sdk/") for path in importers), importers


def test_every_package_ships_in_the_wheel() -> None:
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    packages = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "llmos").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    missing = sorted(packages - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
