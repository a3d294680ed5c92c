"""The workspace: where llmos keeps memory, projects, state and settings.

Resolution order for its root: `--workspace DIR`, then `$LLMOS_HOME`, then `~/.llmos`.
The tree is created on first use from the skeleton shipped in the repository's
`workspace/` folder (installed as the `llmos.workspace_skeleton` package data).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llmos.errors import UsageError
from llmos.yaml_text import YAMLError, load_yaml

DEFAULT_PROJECT = "default"
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_PROJECT_SUBDIRS = ("components", "memory", "output", "state")


@dataclass(frozen=True)
class Settings:
    """User-tunable settings, read from `<workspace>/config.yaml` (see the shipped file)."""

    initial_balance_usd: float = 5.0
    model: str | None = None
    max_turns: int = 40
    memory_context_tokens: int = 800
    memory_min_relevance: float = 0.25  # recall leaves out memory less relevant than this
    follower_threshold: float = 0.9
    follower_min_rating: float = 0.5
    # The watchdog (kernel/watchdog.py; 0 = no limit) and the scheduler (kernel/scheduler.py).
    stall_timeout_secs: float = 300.0
    tool_timeout_secs: float = 900.0
    scheduled_run_timeout_secs: float = 3600.0
    schedule_misfire_grace_secs: float = 3600.0
    # The OS sandbox around every command llmos runs (llmos/security/sandbox.py): "auto"
    # uses it where this machine has one, "required" refuses to run a command without it,
    # "off" runs commands without it (imported traces still replay only inside it).
    sandbox: str = "auto"
    sandbox_max_processes: int = 512
    sandbox_cpu_secs: int = 600  # CPU time of each process
    sandbox_max_file_mb: int = 1024  # the largest file a command may write

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: Path) -> Settings:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise UsageError(
                f"{source}: unknown setting(s) {', '.join(unknown)}",
                hint=f"Known settings: {', '.join(sorted(known))}.",
            )
        values: dict[str, Any] = {}
        for name, value in data.items():
            default = known[name].default
            if name in _CHOICES:
                values[name] = _choice(name, value, source)
                continue
            try:
                if value is None or isinstance(default, str) or default is None:
                    values[name] = None if value is None else str(value)
                elif isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise ValueError(f"expected a number, got {value!r}")
                else:
                    values[name] = float(value) if isinstance(default, float) else int(value)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"{source}: setting {name}: {exc}") from exc
        return cls(**values)


# Settings that take one of a few words.
_CHOICES = {"sandbox": ("auto", "required", "off")}


def _choice(name: str, value: Any, source: Path) -> str:
    if value is False:  # YAML reads a bare `off` as false
        value = "off"
    if value not in _CHOICES[name]:
        raise UsageError(
            f"{source}: setting {name}: {value!r} is not one of {', '.join(_CHOICES[name])}"
        )
    return str(value)


def default_root() -> Path:
    env = os.environ.get("LLMOS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".llmos"


def validate_project_name(name: str) -> str:
    """`name` if it can name a project folder; else UsageError saying why. A project name
    is one folder name: never a path, never hidden, never `..`."""
    if not _PROJECT_NAME.match(name):
        if not name:
            why = "it is empty"
        elif "/" in name or "\\" in name or name in (".", ".."):
            why = "it is a path, not a name"
        elif name.startswith("."):
            why = "it starts with a dot"
        elif len(name) > 64:
            why = f"it is {len(name)} characters long (at most 64)"
        else:
            why = "it has characters other than letters, digits, '-' and '_'"
        raise UsageError(
            f"invalid project name {name!r}: {why}",
            hint="Use 1-64 letters, digits, '-' or '_', starting with a letter or digit.",
        )
    return name


@dataclass
class Workspace:
    root: Path
    _settings: Settings | None = field(default=None, repr=False)

    @classmethod
    def open(cls, root: Path | None = None) -> Workspace:
        """Open (and on first use create) the workspace at `root` or the default location."""
        ws = cls((root or default_root()).expanduser().resolve())
        ws.ensure()
        return ws

    # Layout ------------------------------------------------------------------------------
    @property
    def memories(self) -> Path:
        return self.root / "memories"

    @property
    def traces_dir(self) -> Path:
        return self.memories / "traces"

    @property
    def sessions_dir(self) -> Path:
        return self.memories / "sessions"

    @property
    def facts_dir(self) -> Path:
        return self.memories / "facts"

    @property
    def insights_dir(self) -> Path:
        return self.memories / "insights"

    @property
    def projects_dir(self) -> Path:
        return self.root / "projects"

    @property
    def plugins_dir(self) -> Path:
        return self.root / "plugins"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "llmos.db"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def ensure(self) -> None:
        if not self.config_path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            _copy_skeleton(self.root)
        for folder in (
            self.traces_dir,
            self.sessions_dir,
            self.facts_dir,
            self.insights_dir,
            self.projects_dir,
            self.plugins_dir,
            self.state_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)

    # Projects ----------------------------------------------------------------------------
    def project_dir(self, name: str, *, create: bool = True) -> Path:
        path = self.projects_dir / validate_project_name(name)
        if create:
            for sub in _PROJECT_SUBDIRS:
                (path / sub).mkdir(parents=True, exist_ok=True)
        return path

    def output_dir(self, project: str) -> Path:
        """The working folder of runs in `project`."""
        return self.project_dir(project) / "output"

    def project_names(self) -> list[str]:
        if not self.projects_dir.is_dir():
            return []
        # Only names llmos could have given (not, e.g., a project being created or removed).
        return sorted(
            p.name
            for p in self.projects_dir.iterdir()
            if p.is_dir() and _PROJECT_NAME.match(p.name)
        )

    # Settings ----------------------------------------------------------------------------
    def with_settings(self, settings: Settings) -> Workspace:
        """The same workspace seen with other settings (a project's overrides)."""
        return Workspace(self.root, settings)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = self._load_settings()
        return self._settings

    def _load_settings(self) -> Settings:
        if not self.config_path.exists():
            return Settings()
        try:
            data = load_yaml(self.config_path.read_text(encoding="utf-8")) or {}
        except YAMLError as exc:
            raise UsageError(f"{self.config_path}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise UsageError(f"{self.config_path}: expected a mapping of settings")
        return Settings.from_mapping(data, source=self.config_path)


def skeleton_dir() -> Path:
    """The workspace skeleton: inside an installed wheel, or the repository's `workspace/`."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "workspace_skeleton", package.parent / "workspace"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError("the llmos workspace skeleton is missing from this installation")


def _copy_skeleton(root: Path) -> None:
    """Copy the shipped skeleton (config, README, example agents) without overwriting."""
    src = skeleton_dir()
    for item in src.rglob("*"):
        if item.is_dir() or "__pycache__" in item.parts:
            continue
        target = root / item.relative_to(src)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, target)
