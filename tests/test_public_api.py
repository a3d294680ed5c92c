"""The public API (ARCHITECTURE.md, "The public API"): `llmos` for a program that embeds it,
`llmos.plugins` for a plugin. Everything else is internal, under `llmos._internal`."""

from __future__ import annotations

import ast
import asyncio
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox

import llmos
import llmos.plugins
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {"llmos", "llmos.plugins"}


def test_every_public_name_resolves() -> None:
    for module in (llmos, llmos.plugins):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
    assert issubclass(llmos.LowBatteryError, llmos.LlmosError)
    assert llmos.LowBatteryError.exit_code == 4 and llmos.UsageError.exit_code == 2
    with pytest.raises(AttributeError):
        _ = llmos.TraceLibrary  # internal: not on the public surface


def test_importing_llmos_loads_nothing_else() -> None:
    """Every `llmos.*` import imports the package first: its exports load on first use."""
    code = "import llmos, sys; print(sorted(m for m in sys.modules if m.startswith('llmos')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['llmos']"


def test_an_embedder_learns_then_replays_a_goal(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    ws = llmos.Workspace.open(sandbox.workspace)
    goal = "Write notes.txt with two lines"
    scripted.script(use_tool("Write", file_path="notes.txt", content="a\nb\n"), say("Done."))
    env = scripted.client_env(sandbox.claude_config)
    learned = asyncio.run(llmos.run_goal(ws, llmos.RunRequest(goal, model=MODEL), env=env))
    assert isinstance(learned, llmos.RunSummary)
    assert (learned.mode, learned.status) == ("learner", "success") and learned.cost_usd > 0
    (Path(learned.workdir) / "notes.txt").unlink()

    planned = llmos.plan_goal(ws, llmos.RunRequest(goal))
    assert planned.mode == "follower" and planned.trace_id is not None
    replayed = llmos.run_goal_blocking(ws, llmos.RunRequest(goal))  # no model, no loop
    assert (replayed.mode, replayed.status, replayed.cost_usd) == ("follower", "success", 0.0)
    assert (Path(replayed.workdir) / "notes.txt").read_text() == "a\nb\n"
    scripted.assert_complete()

    with pytest.raises(llmos.UsageError):
        llmos.run_goal_blocking(ws, llmos.RunRequest("   "))


def _modules_of(package: Path, prefix: str) -> set[str]:
    """Every module and package under `package` (a folder), as dotted names."""
    found = {prefix}
    for info in pkgutil.walk_packages([str(package)], prefix + "."):
        found.add(info.name)
    return found


def test_every_module_outside_internal_is_public() -> None:
    """Internals live under `llmos._internal` (which may change in any release): a module
    placed anywhere else in `llmos/` would be public API by its name."""
    package = Path(llmos.__file__).parent
    outside = {
        name
        for name in _modules_of(package, "llmos")
        if name != "llmos._internal" and not name.startswith("llmos._internal.")
    }
    assert outside == PUBLIC | {"llmos.__main__"}, sorted(outside - PUBLIC)
    files = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and "_internal" not in path.parts
    }
    assert files == {"__init__.py", "__main__.py", "py.typed", "plugins/__init__.py"}, files
    assert "llmos._internal.kernel.events" in _modules_of(package / "_internal", "llmos._internal")


def _llmos_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmos"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("llmos")}
    return found


@pytest.mark.parametrize("plugin", sorted((ROOT / "plugins").glob("*.py")), ids=lambda p: p.name)
def test_the_example_plugins_use_only_the_public_api(plugin: Path) -> None:
    imported = _llmos_imports(plugin.read_text(encoding="utf-8"))
    assert imported and imported <= PUBLIC, imported


def test_the_plugin_docs_use_only_the_public_api() -> None:
    text = (ROOT / "plugins" / "README.md").read_text(encoding="utf-8")
    text += llmos.plugins.__doc__ or ""
    text += (ROOT / "README.md").read_text(encoding="utf-8")  # its plugin examples
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    imports = set(re.findall(r"^\s*from (llmos[\w.]*) import", text, flags=re.MULTILINE))
    imports |= {m for block in blocks for m in _llmos_imports(block)}
    assert imports and imports <= PUBLIC, imports
