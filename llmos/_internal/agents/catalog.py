"""Which agents a run can use, and where each one comes from.

Agents come in layers; a later layer overrides an earlier agent of the same name:

1. agents registered by plugins (`plugin.agent(...)`, llmos/_internal/plugins/types.py): those of
   the plugins the run's project allows (the run's current tools), or as given;
2. the workspace's `agents/*.md` (new workspaces get the examples shipped in the
   repository's `workspace/agents/`), so a user's file overrides a plugin's agent;
3. the project's `components/*.md` and `components/agents/*.md`.

A file that cannot be used is reported (`AgentCatalog.problems`: its path and what is
wrong) and skipped; it never stops a run or a listing. `README.md` files are not agents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from pathlib import Path

from llmos._internal.agents.spec import AgentFormatError, AgentSpec, parse_agent
from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.workspace import Workspace


@frozen
class AgentSource:
    """A folder of agent files and how to name where they came from."""

    label: str  # "workspace", "project NAME"
    folder: Path


@frozen
class AgentProblem:
    """An agent file that was skipped, and what is wrong with it."""

    path: Path
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@frozen
class AgentCatalog:
    """The agents a run can use, by name, and the agent files that could not be used."""

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


def agent_sources(ws: Workspace, project: str | None = None) -> list[AgentSource]:
    """The folders of agent files, in override order."""
    sources = [AgentSource("workspace", ws.root / "agents")]
    if project is not None:
        components = ws.project_dir(project, create=False) / "components"
        sources.append(AgentSource(f"project {project}", components))
        sources.append(AgentSource(f"project {project}", components / "agents"))
    return sources


def load_catalog(
    ws: Workspace,
    project: str | None = None,
    *,
    plugin_agents: Sequence[AgentSpec] = (),
) -> AgentCatalog:
    """Every usable agent for runs in `project` (None: no project's own agents), with
    `plugin_agents` (the plugins' agents; a run's: llmos/_internal/plugins/run_tools.py's
    run_catalog) shadowed by the agent files of the same name."""
    agents: dict[str, AgentSpec] = {spec.name: spec for spec in plugin_agents}
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
