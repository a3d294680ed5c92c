"""ruff and mypy are part of the test suite, so the one test command checks them too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contracts (pyproject.toml) over the `llmos` package found in `root`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    config = ["--config", str(ROOT / "pyproject.toml")]
    return subprocess.run(
        [*command, *config], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def test_layers_contract() -> None:
    """The packages of llmos._internal are layers (ARCHITECTURE.md, "Layers"): none imports
    one above it."""
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a lazy (function-level) import counts as much as one at the top of the module
        (
            "kernel/bus.py",
            "def _up() -> None:\n"
            "    from llmos._internal.modes.dispatcher import run_goal  # noqa\n",
            "llmos._internal.kernel is not allowed to import llmos._internal.modes",
        ),
        (
            "memory/trace.py",
            "import llmos._internal.security.guard\n",
            "llmos._internal.memory is not allowed",
        ),
        (
            "errors.py",
            "from llmos._internal.workspace import Workspace\n",
            None,
        ),  # one layer: allowed
        (
            "sdk/types.py",
            "import llmos._internal.telemetry\n",
            "llmos._internal.sdk is not allowed to import",
        ),
        (
            "engine/types.py",
            "import llmos._internal.gateway\n",
            "llmos._internal.engine is not allowed to import",
        ),
        # the apps: the command line launches the web console (and the others); the console
        # imports neither the command line nor another app, what both show is below them
        (
            "console/views.py",
            "def _up() -> None:\n    from llmos._internal.cli.sessions import show  # noqa\n",
            "llmos._internal.console is not allowed to import llmos._internal.cli",
        ),
        (
            "console/app.py",
            "import llmos._internal.cli.render\n",
            "llmos._internal.console is not allowed to import",
        ),
        (
            "console/views.py",
            "import llmos._internal.gateway.events\n",
            "llmos._internal.console is not allowed",
        ),
        (
            "gateway/app.py",
            "import llmos._internal.console.views\n",
            "llmos._internal.gateway is not allowed",
        ),
        (
            "presentation/records.py",
            "import llmos._internal.cli.table\n",
            "llmos._internal.presentation is not",
        ),
        (
            "presentation/timeline.py",
            "import llmos._internal.console\n",
            "llmos._internal.presentation is not",
        ),
        ("cli/console.py", "import llmos._internal.console.app\n", None),  # the launcher: allowed
        ("console/views.py", "import llmos._internal.presentation.timeline\n", None),
    ],
)
def test_layers_contract_fails_on_an_import_from_above(
    tmp_path: Path, module: str, line: str, broken: str | None
) -> None:
    """The contract is not vacuous: a copy of llmos with one import added breaks it (or,
    for an import the layers allow, from above or within a layer whose packages may import
    each other, does not)."""
    shutil.copytree(ROOT / "llmos", tmp_path / "llmos", ignore=shutil.ignore_patterns("*.pyc"))
    target = tmp_path / "llmos" / "_internal" / module
    target.write_text(target.read_text(encoding="utf-8") + "\n\n" + line, encoding="utf-8")
    proc = _lint_imports(tmp_path)
    if broken is None:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert broken in proc.stdout, proc.stdout


def test_a_new_package_must_be_placed_in_a_layer(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "llmos", tmp_path / "llmos", ignore=shutil.ignore_patterns("*.pyc"))
    newcomer = tmp_path / "llmos" / "_internal" / "newcomer"
    newcomer.mkdir()
    (newcomer / "__init__.py").write_text("", encoding="utf-8")
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0 and "llmos._internal.newcomer" in proc.stdout + proc.stderr


def test_only_llmos_sdk_imports_the_sdk() -> None:
    importers = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "llmos").rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lstrip().startswith(("import claude_agent_sdk", "from claude_agent_sdk"))
    }
    # The SDK bridge is the llmos/_internal/sdk/ package: runner.py, and adapters such as
    # plugin_tools.py (plugin tools as in-process MCP servers), all imported lazily.
    assert importers and all(path.startswith("llmos/_internal/sdk/") for path in importers), (
        importers
    )


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
