"""What a run inside a project gets: the project's folder, its settings over config.yaml,
and its tools (the loaded plugins' tools its policy allows), plus the plugins' event hooks.

The dispatcher enters a scope for every run and dry run (`llmos/modes/dispatcher.py`).
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmos.plugins.loader import load_plugins
from llmos.plugins.registry import PluginRegistry
from llmos.plugins.run_tools import RunTools
from llmos.projects.store import Project, load_project, open_project, project_path
from llmos.workspace import DEFAULT_PROJECT, Workspace

if TYPE_CHECKING:
    from llmos.kernel.bus import Handler

log = logging.getLogger(__name__)
ENTRY_POINT_CACHE = "plugin-entry-points.json"


@dataclass(frozen=True)
class RunScope:
    project: Project
    ws: Workspace  # the workspace seen with the project's settings
    tools: RunTools
    subscribers: tuple[tuple[str, Handler], ...]  # the plugins' event hooks


def workspace_plugins(ws: Workspace) -> PluginRegistry:
    """Every plugin of the workspace: its `plugins/` folder and installed entry points."""
    return load_plugins(ws.plugins_dir, cache=ws.state_dir / ENTRY_POINT_CACHE)


def enter_project(ws: Workspace, name: str, *, create: bool = True) -> RunScope:
    """The scope of a run in project `name`. With `create=False` (a dry run) nothing is
    written: a `default` project that does not exist yet is taken as an empty one."""
    if create:
        project = open_project(ws, name)
    elif name == DEFAULT_PROJECT and not project_path(ws, name).is_dir():
        project = Project(name, project_path(ws, name))
    else:
        project = load_project(ws, name)
    registry = workspace_plugins(ws)
    for failure in registry.failures:
        log.warning("plugin %s failed to load: %s", failure.source, failure.error)
    denied = project.policy.deny_tools

    def denies(tool: str) -> bool:
        return any(fnmatch.fnmatchcase(tool, pattern) for pattern in denied)

    allowed = registry.restricted(plugins=project.policy.plugins, denied=denies)
    tools = RunTools(allowed, denied, workdir=project.output_dir)
    return RunScope(
        project,
        ws.with_settings(project.effective_settings(ws.settings)),
        tools,
        tuple(allowed.bus_subscribers()),
    )
