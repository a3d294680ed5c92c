"""Which agents a run can use, and where each one comes from.

Agents are read in layers; a later layer overrides an earlier agent of the same name:

1. the workspace's `agents/*.md` (new workspaces get the examples shipped in the
   repository's `workspace/agents/`);
2. agents registered by plugins (`register_agent_source`: the hook point for
   `llmos/plugins/`, which calls it with a function returning its agent folders);
3. the project's `components/*.md` and `components/agents/*.md`.

A file that cannot be used is reported (`AgentCatalog.problems`: its path and what is
wrong) and skipped; it never stops a run or a listing. `README.md` files are not agents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from llmos.agents.spec import AgentFormatError, AgentSpec, parse_agent
from llmos.errors import UsageError
from llmos.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSource:
    """A folder of agent files and how to name where they came from."""

    label: str  # "workspace", "plugin NAME", "project NAME"
    folder: Path


@dataclass(frozen=True)
class AgentProblem:
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass(frozen=True)
class AgentCatalog:
    agents: dict[str, AgentSpec] = field(default_factory=dict)
    problems: tuple[AgentProblem, ...] = ()

    def __len__(self) -> int:
        return len(self.agents)

    def names(self) -> list[str]:
        return sorted(self.agents)

    def specs(self) -> tuple[AgentSpec, ...]:
        return tuple(self.agents[name] for name in self.names())

    def get(self, name: str) -> AgentSpec | None:
        return self.agents.get(name)

    def require(self, name: str) -> AgentSpec:
        spec = self.agents.get(name)
        if spec is None:
            known = ", ".join(self.names()) or "none"
            raise UsageError(f"no agent named {name!r}", hint=f"Known agents: {known}.")
        return spec


PluginAgentSources = Callable[[Workspace], Iterable[AgentSource]]
_plugin_sources: list[PluginAgentSources] = []


def register_agent_source(source: PluginAgentSources) -> None:
    """Add agents from outside the workspace (plugins): `source(ws)` lists their folders."""
    if source not in _plugin_sources:
        _plugin_sources.append(source)


def agent_sources(ws: Workspace, project: str | None = None) -> list[AgentSource]:
    sources = [AgentSource("workspace", ws.root / "agents")]
    for plugin in _plugin_sources:
        try:
            sources.extend(plugin(ws))
        except Exception:  # a broken plugin must not take the other agents down with it
            log.warning("an agent source of a plugin failed", exc_info=True)
    if project is not None:
        components = ws.project_dir(project, create=False) / "components"
        sources.append(AgentSource(f"project {project}", components))
        sources.append(AgentSource(f"project {project}", components / "agents"))
    return sources


def load_catalog(ws: Workspace, project: str | None = None) -> AgentCatalog:
    """Every usable agent for runs in `project` (None: the workspace's and plugins' only)."""
    agents: dict[str, AgentSpec] = {}
    problems: list[AgentProblem] = []
    for source in agent_sources(ws, project):
        layer: dict[str, AgentSpec] = {}
        for path in _agent_files(source.folder):
            try:
                spec = parse_agent(path.read_text(encoding="utf-8"), path=path, source=source.label)
            except (AgentFormatError, OSError, UnicodeDecodeError) as exc:
                problems.append(AgentProblem(path, str(exc)))
                continue
            if spec.name in layer:
                first = layer[spec.name].path
                problems.append(
                    AgentProblem(path, f"agent {spec.name!r} is already defined by {first}")
                )
                continue
            layer[spec.name] = spec
        agents.update(layer)
    return AgentCatalog(dict(sorted(agents.items())), tuple(problems))


def _agent_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.glob("*.md")
        if path.is_file() and path.name.lower() != "readme.md" and not path.name.startswith(".")
    )
