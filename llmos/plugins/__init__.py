"""llmos plugins: tools, event hooks and agents written in Python.

For plugin authors, the whole API is this module::

    from pathlib import Path
    from llmos.plugins import Plugin, inside

    plugin = Plugin("dates", description="Calendar arithmetic.")

    @plugin.tool(version="1.0.0")
    def days_between(start: str, end: str) -> int:
        '''Days from START to END (ISO dates, YYYY-MM-DD).'''
        ...

Put the module in `<workspace>/plugins/`, or ship it in a package with an entry point in
the group `llmos.plugins`. See `llmos/plugins/types.py` for tools, hooks and agents, and the
repository's `plugins/` folder for examples. Importing this module never loads the SDK.
"""

from __future__ import annotations

from pathlib import Path

from llmos.agents.spec import AgentSpec
from llmos.plugins.types import Plugin, PluginError

__all__ = ["AgentSpec", "Plugin", "PluginError", "inside"]


def inside(workdir: Path, path: str) -> Path:
    """`path` (relative to the run's working folder, or absolute) resolved, symlinks
    included; ValueError if it lies outside the working folder. Tools that touch files
    should take their paths through this, as llmos's own file tools are kept inside it."""
    root = Path(workdir).resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"{path} is outside the working folder; use a path inside it")
    return target
