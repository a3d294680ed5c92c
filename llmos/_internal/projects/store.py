"""Projects: named working contexts inside a workspace.

    projects/NAME/
      project.yaml   its description and creation time, settings that override config.yaml
                     for its runs, and the plugins its runs offer (default: all)
      policy.yaml    its security policy, if any (security/policy_file.py): e.g. tools
                     its runs may not use, which are then not offered either
      output/        the working folder of its runs
      memory/        its own facts and insights (llmos/_internal/memory/facts.py)
      components/    its own agents (llmos/_internal/agents/catalog.py)
      state/

`llmos run -p NAME` runs in an existing project only: a mistyped name must not quietly
start an empty project and learn there. The one exception is `default`, created on first use.
A project's budget (`llmos budget set --project NAME USD`) lives in the ledger
(llmos/_internal/kernel/economy.py).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_text
from llmos._internal.security.sandbox import sandbox_at_least
from llmos._internal.usage import now_iso
from llmos._internal.workspace import DEFAULT_PROJECT, Settings, Workspace, validate_project_name
from llmos._internal.yaml_cache import load_yaml_file
from llmos._internal.yaml_text import YAMLError, dump_yaml

PROJECT_FILE = "project.yaml"
SUBFOLDERS = ("components", "memory", "output", "state")
_KEYS = ("description", "created_at", "settings", "plugins")
# Settings about the whole workspace, not about how one project's runs go.
_WORKSPACE_ONLY = frozenset(
    {
        "initial_balance_usd",
        "scheduled_run_timeout_secs",
        "schedule_misfire_grace_secs",
        "telemetry",  # one exporter per process, whatever the run's project
    }
)


@frozen
class Project:
    """A project of the workspace, as its folder and project.yaml describe it."""

    name: str
    root: Path
    description: str = ""
    created_at: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)  # over config.yaml's
    plugins: tuple[str, ...] | None = None  # the plugins whose tools its runs offer; None: all
    problem: str | None = None  # why project.yaml could not be read (listings only)

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def file(self) -> Path:
        return self.root / PROJECT_FILE

    def effective_settings(self, base: Settings) -> Settings:
        """The workspace's settings with this project's overrides."""
        return dataclasses.replace(base, **dict(self.settings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.root),
            "description": self.description,
            "created_at": self.created_at,
            "settings": dict(self.settings),
            "plugins": None if self.plugins is None else list(self.plugins),
            "problem": self.problem,
        }


def project_path(ws: Workspace, name: str) -> Path:
    return ws.projects_dir / validate_project_name(name)


def exists(ws: Workspace, name: str) -> bool:
    return project_path(ws, name).is_dir()


def require_project(ws: Workspace, name: str) -> str:
    """`name` if it is a project of `ws` (or `default`, made on first use); else a usage
    error: every `--project`, and the web console's, refuses a project that does not exist,
    before anything runs."""
    if validate_project_name(name) != DEFAULT_PROJECT and not exists(ws, name):
        raise UsageError(
            f"no project named {name!r}",
            hint=f"Create it with `llmos project create {name}`; see `llmos project list`.",
        )
    return name


def open_project(ws: Workspace, name: str) -> Project:
    """The project a run goes into, with its folders. Only `default` is created on demand."""
    path = project_path(ws, require_project(ws, name))
    if not path.is_dir():  # `default`, on first use
        try:
            _make(ws, name, description="The project runs go to when no --project is given.")
        except UsageError:
            if not path.is_dir():  # else another process created it first: fine
                raise
    for sub in SUBFOLDERS:  # a project folder made by hand gets what a run needs
        (path / sub).mkdir(parents=True, exist_ok=True)
    return load_project(ws, name)


def load_project(ws: Workspace, name: str) -> Project:
    """An existing project; UsageError when it does not exist or its project.yaml is wrong."""
    path = project_path(ws, name)
    if not path.is_dir():
        raise UsageError(f"no project named {name!r}", hint="See `llmos project list`.")
    return _read(path, name, ws.settings)


def create_project(ws: Workspace, name: str, *, description: str = "") -> Project:
    """A new project. Its folder appears whole or not at all (built aside, then renamed)."""
    validate_project_name(name)
    taken = [other for other in ws.project_names() if other.casefold() == name.casefold()]
    if taken:
        raise UsageError(
            f"a project named {taken[0]!r} already exists",
            hint="Pick another name, or see `llmos project show " + taken[0] + "`.",
        )
    return _make(ws, name, description=" ".join(description.split()))


def list_projects(ws: Workspace) -> list[Project]:
    """Every project; one whose project.yaml is broken is listed with the problem."""
    projects = []
    for name in ws.project_names():
        try:
            projects.append(_read(project_path(ws, name), name, ws.settings))
        except UsageError as exc:
            projects.append(Project(name, ws.projects_dir / name, problem=exc.message))
    return projects


def remove_project(ws: Workspace, name: str) -> None:
    """Delete the project's folder (its output, memory and agents). Traces and ledger rows
    stay: they belong to the workspace."""
    path = project_path(ws, name)
    if name == DEFAULT_PROJECT:
        raise UsageError(
            "the default project cannot be removed", hint="Remove what is in it by hand instead."
        )
    if path.is_symlink():
        path.unlink()  # a link made by hand: remove the link, never what it points to
        return
    if not path.is_dir():
        raise UsageError(f"no project named {name!r}", hint="See `llmos project list`.")
    # Renamed aside first, so a failure halfway never leaves half a project under its name.
    doomed = Path(tempfile.mkdtemp(prefix=f".{name}.removing-", dir=ws.projects_dir))
    path.replace(doomed / name)
    shutil.rmtree(doomed)


def _make(ws: Workspace, name: str, *, description: str) -> Project:
    ws.projects_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.creating-", dir=ws.projects_dir))
    try:
        for sub in SUBFOLDERS:
            (staging / sub).mkdir()
        meta: dict[str, Any] = {"description": description, "created_at": now_iso()}
        meta.update(settings={}, plugins=None)
        atomic_write_text(staging / PROJECT_FILE, _render(meta))
        target = ws.projects_dir / name
        if target.exists() or target.is_symlink():
            raise FileExistsError(f"{target} exists")
        staging.rename(target)  # fails if the name was taken meanwhile (non-empty folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"cannot create project {name!r}: {exc}") from exc
    return load_project(ws, name)


_HEADER = """\
# An llmos project. `settings` override config.yaml for this project's runs (model,
# max_turns, follower_min_rating...). `plugins` lists the plugins whose tools its runs offer
# (null: every loaded plugin). Its security policy, if any, is policy.yaml next to this file.
"""


def _render(meta: dict[str, Any]) -> str:
    return _HEADER + dump_yaml(meta, sort_keys=False, allow_unicode=True)


def _read(path: Path, name: str, base: Settings) -> Project:
    file = path / PROJECT_FILE
    if not file.is_file():
        return Project(name, path)  # made before project.yaml existed, or by hand
    try:
        data = load_yaml_file(file.read_text(encoding="utf-8"), file) or {}
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise UsageError(f"{file}: cannot be read ({exc})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{file}: expected a mapping (description, settings, plugins)")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise UsageError(f"{file}: unknown key(s) {', '.join(unknown)}", hint=_known(_KEYS))
    return Project(
        name,
        path,
        description=str(data.get("description") or ""),
        created_at=str(data.get("created_at") or ""),
        settings=_settings(data.get("settings"), file, base),
        plugins=_names(data.get("plugins"), file, "plugins"),
    )


def _settings(raw: Any, file: Path, base: Settings) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UsageError(f"{file}: settings must be a mapping of config.yaml settings")
    workspace_only = sorted(set(raw) & _WORKSPACE_ONLY)
    if workspace_only:
        raise UsageError(
            f"{file}: {', '.join(workspace_only)} can only be set in config.yaml",
            hint="They are about the whole workspace, not one project.",
        )
    parsed = Settings.from_mapping(raw, source=file)  # the same checks as config.yaml
    if "sandbox" in raw and not sandbox_at_least(parsed.sandbox, base.sandbox):
        # A project folder can come from anywhere: it may tighten the sandbox, never loosen.
        raise UsageError(
            f"{file}: sandbox: {parsed.sandbox} is looser than the workspace's "
            f"{base.sandbox}, and a project may only tighten it",
            hint="Set the sandbox for every project in config.yaml.",
        )
    return {key: getattr(parsed, key) for key in raw}


def _names(value: Any, file: Path, key: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{file}: {key} must be a list of names (or null)")
    return tuple(value)


def _known(keys: tuple[str, ...]) -> str:
    return f"Known keys: {', '.join(keys)}."
