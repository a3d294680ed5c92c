"""What a run inside a project gets: the project's folder, its settings over config.yaml,
and its tools: the built-in tools and the tools of its plugins (project.yaml `plugins`),
less those its security policy denies by name (a `deny: tools:` entry of policy.yaml, the
workspace's or the project's), plus the plugins' event hooks.

The dispatcher enters a scope for every run and dry run (`llmos/_internal/modes/dispatcher.py`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from llmos._internal.frozen import frozen
from llmos._internal.plugins.loader import load_plugins
from llmos._internal.plugins.registry import PluginRegistry
from llmos._internal.plugins.run_tools import RunTools
from llmos._internal.projects.store import Project, load_project, open_project, project_path
from llmos._internal.security.policy_file import Policy, load_policy
from llmos._internal.workspace import DEFAULT_PROJECT, Workspace

if TYPE_CHECKING:
    from llmos._internal.kernel.bus import Handler

log = logging.getLogger(__name__)
ENTRY_POINT_CACHE = "plugin-entry-points.json"


@frozen
class RunScope:
    """What a run inside a project gets: its tools, the plugins' hooks, its security policy."""

    project: Project
    ws: Workspace  # the workspace seen with the project's settings
    tools: RunTools
    subscribers: tuple[tuple[str, Handler], ...]  # the plugins' event hooks
    policy: Policy  # the workspace's and the project's security policy


def workspace_plugins(ws: Workspace) -> PluginRegistry:
    """Every plugin of the workspace: its `plugins/` folder and installed entry points."""
    return load_plugins(ws.plugins_dir, cache=ws.state_dir / ENTRY_POINT_CACHE)


def enter_project(ws: Workspace, name: str, *, create: bool = True) -> RunScope:
    """The scope of a run in project `name`. With `create=False` (a dry run, a listing) no
    project is made: a `default` project that does not exist yet is taken as an empty one."""
    if create:
        project = open_project(ws, name)
    elif name == DEFAULT_PROJECT and not project_path(ws, name).is_dir():
        project = Project(name, project_path(ws, name))
    else:
        project = load_project(ws, name)
    policy = load_policy(ws.root, name)  # a bad policy file stops the run here
    registry = workspace_plugins(ws)
    for failure in registry.failures:
        log.warning("plugin %s failed to load: %s", failure.source, failure.error)

    def denies(tool: str) -> bool:
        found = policy.match("tools", [tool])
        return found is not None and found.action == "deny"

    allowed = registry.restricted(plugins=project.plugins, denied=denies)
    tools = RunTools(allowed, denies, workdir=project.output_dir)
    return RunScope(
        project,
        ws.with_settings(project.effective_settings(ws.settings)),
        tools,
        tuple(allowed.bus_subscribers()),
        policy,
    )
