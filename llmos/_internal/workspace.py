"""The workspace: where llmos keeps memory, projects, state and settings.

Resolution order for its root: `--workspace DIR`, then `$LLMOS_HOME`, then `~/.llmos`.
The tree is created on first use from the skeleton shipped in the repository's
`workspace/` folder (installed as the `llmos._internal.workspace_skeleton` package data).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llmos._internal.errors import ReadOnlyWorkspaceError, UsageError
from llmos._internal.frozen import frozen
from llmos._internal.telemetry_settings import TelemetrySettings
from llmos._internal.yaml_cache import load_yaml_file
from llmos._internal.yaml_text import YAMLError

DEFAULT_PROJECT = "default"
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_PROJECT_SUBDIRS = ("components", "memory", "output", "state")
# What llmos puts in a workspace: a folder holding only these (and dotfiles) may become one.
_LAYOUT = frozenset(
    {
        "config.yaml",
        "policy.yaml",
        "gateway.yaml",
        "README.md",
        "memories",
        "agents",
        "projects",
        "plugins",
        "state",
    }
)
# Folders that are never a workspace, nor is anything inside them.
_SYSTEM_TREES = (
    "/proc",
    "/sys",
    "/dev",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/boot",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
)
# Folders that are never a workspace themselves (their subfolders may be).
_SYSTEM_FOLDERS = frozenset(
    {
        "/",
        "/var",
        "/run",
        "/opt",
        "/srv",
        "/home",
        "/root",
        "/mnt",
        "/media",
        "/tmp",
        "/var/tmp",
        "/var/lib",
        "/var/log",
        "/var/cache",
        "/var/spool",
        "/snap",
    }
)


@frozen
class Settings:
    """User-tunable settings, read from `<workspace>/config.yaml` (see the shipped file)."""

    initial_balance_usd: float = 5.0
    model: str | None = None
    max_turns: int = 40
    memory_context_tokens: int = 800
    memory_min_relevance: float = 0.25  # recall leaves out memory less relevant than this
    follower_min_rating: float = 0.5
    # The watchdog (kernel/watchdog.py; 0 = no limit) and the scheduler (kernel/scheduler.py).
    stall_timeout_secs: float = 300.0
    tool_timeout_secs: float = 900.0
    scheduled_run_timeout_secs: float = 3600.0
    schedule_misfire_grace_secs: float = 3600.0
    # The OS sandbox around every command llmos runs (llmos/_internal/security/sandbox.py): "auto"
    # uses it where this machine has one, "required" refuses to run a command without it,
    # "off" runs commands without it (imported traces still replay only inside it).
    sandbox: str = "auto"
    sandbox_max_processes: int = 512
    sandbox_cpu_secs: int = 600  # CPU time of each process
    sandbox_max_file_mb: int = 1024  # the largest file a command may write
    # Runs with nobody at their terminal (scheduled runs, the gateway, scripts) and the
    # web console's approvals inbox (llmos/_internal/kernel/approval_inbox.py): "auto" puts their
    # questions in the inbox while a console is running, "console" always (they wait for
    # one), "none" never (the calls are refused). Unanswered questions expire.
    approvals: str = "auto"
    approval_expiry_secs: float = 600.0
    # Sections: nested mappings, each checked by its own type.
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: Path) -> Settings:
        """Settings from `config.yaml` (or a project's `settings:`), each value checked
        against what it may be: a bad one is a UsageError naming the file, the key, what
        is allowed and what was found ("config.yaml: max_turns must be an integer >= 1,
        not -3"), before anything runs or is charged."""
        data = {k: v for k, v in data.items() if k not in _RETIRED}
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(str(key) for key in set(data) - set(known))
        if unknown:
            raise UsageError(
                f"{source}: unknown setting(s) {', '.join(unknown)}",
                hint=f"Known settings: {', '.join(sorted(known))}.",
            )
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in _CHOICES:
                values[name] = _choice(name, value, source)
                continue
            section = _SECTIONS.get(name)
            if section is not None:
                values[name] = section.from_mapping(value, source=source)
                continue
            try:
                values[name] = _setting_value(name, known[name].default, value)
            except ValueError as exc:
                raise UsageError(
                    f"{source}: {name} must be {exc}, not {_shown(value)}",
                    hint=f"Fix it in {source}.",
                ) from None
        return cls(**values)


_SECTIONS = {"telemetry": TelemetrySettings}
# Settings llmos no longer uses, accepted (and ignored) so older config files still load:
# `follower_threshold` went when replays came to need a goal that means the same, not a
# confidence above a threshold.
_RETIRED = frozenset({"follower_threshold"})


# Settings that take one of a few words.
_CHOICES = {"sandbox": ("auto", "required", "off"), "approvals": ("auto", "console", "none")}


def _choice(name: str, value: Any, source: Path) -> str:
    if value is False:  # YAML reads a bare `off` (or `no`) as false
        value = "off" if "off" in _CHOICES[name] else "none"
    if value not in _CHOICES[name]:
        raise UsageError(
            f"{source}: setting {name}: {value!r} is not one of {', '.join(_CHOICES[name])}"
        )
    return str(value)


# What a number setting may be, (least, most), None: no bound. A setting not listed is only
# checked to be a number of its type.
_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "initial_balance_usd": (0, None),
    "max_turns": (1, None),
    "memory_context_tokens": (0, None),
    "memory_min_relevance": (0, 1),
    "follower_min_rating": (0, 1),
    "stall_timeout_secs": (0, None),
    "tool_timeout_secs": (0, None),
    "scheduled_run_timeout_secs": (0, None),
    "schedule_misfire_grace_secs": (0, None),
    "sandbox_max_processes": (1, None),
    "sandbox_cpu_secs": (1, None),
    "sandbox_max_file_mb": (1, None),
    "approval_expiry_secs": (1, None),
}
_MEANS_NO_LIMIT = {"stall_timeout_secs", "tool_timeout_secs", "scheduled_run_timeout_secs"}


def _setting_value(name: str, default: Any, value: Any) -> Any:
    """`value` as setting `name` holds it; ValueError(what it must be) if it cannot be."""
    if default is None or isinstance(default, str):  # a name (model): text, or null
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        raise ValueError("a name (text) or null")
    integer = isinstance(default, int)
    least, most = _BOUNDS.get(name, (None, None))
    wanted = "an integer" if integer else "a number"
    if least is not None and most is not None:
        wanted += f" from {least:g} to {most:g}"
    elif least is not None:
        wanted += f" >= {least:g}"
    if name in _MEANS_NO_LIMIT:
        wanted += " (0: no limit)"
    number: float
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(wanted)
    try:
        number = float(value)
    except ValueError:
        raise ValueError(wanted) from None
    if not math.isfinite(number) or (integer and not number.is_integer()):
        raise ValueError(wanted)
    if (least is not None and number < least) or (most is not None and number > most):
        raise ValueError(wanted)
    return int(number) if integer else number


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


# The state folder of the workspace this process opened (`Workspace.open`, last): caches that
# llmos must be able to trust live there, under the policy's guard (llmos/_internal/security/
# bashlex_cache.py). None in a process that opened none.
_state_in_use: Path | None = None
_state_expected: Path | None = None


def state_dir_in_use() -> Path | None:
    """The guarded `state/` folder of the workspace this process opened, or, before it is
    opened, of the one it will open (`expect_workspace`) if that one exists."""
    if _state_in_use is not None:
        return _state_in_use
    if _state_expected is not None and _state_expected.is_dir():
        return _state_expected
    return None


def expect_workspace(root: Path | str | None) -> None:
    """Say which workspace this process will open (the command line knows before it loads
    a command): modules imported on the way may keep caches in its state already (bashlex's
    parser tables, llmos/_internal/security/bashlex_cache.py)."""
    global _state_expected
    _state_expected = (Path(root).expanduser() if root else default_root()) / "state"


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


def check_root(root: Path, *, init: bool = False) -> None:
    """Refuse a folder that must not become a workspace (UsageError saying why): `/` and
    system folders, a file, and a folder with other things in it (unless `init`: the user
    asked for it, `llmos init DIR`)."""
    text = str(root)
    if text in _SYSTEM_FOLDERS or any(
        text == tree or text.startswith(tree + "/") for tree in _SYSTEM_TREES
    ):
        raise UsageError(
            f"{root} is a system folder: llmos will not use it as its workspace",
            hint="Choose a folder of your own: --workspace DIR, or LLMOS_HOME (default ~/.llmos).",
        )
    if root.exists() and not root.is_dir():
        raise UsageError(
            f"the workspace {root} is a file, not a folder",
            hint="Point --workspace (or LLMOS_HOME) at a folder; llmos creates it if missing.",
        )
    if init or not root.is_dir() or (root / "config.yaml").exists():
        return
    try:
        foreign = sorted(
            entry.name
            for entry in root.iterdir()
            if entry.name not in _LAYOUT and not entry.name.startswith(".")
        )
    except OSError as exc:
        raise UsageError(f"cannot read the workspace folder {root}: {exc.strerror}") from exc
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise UsageError(
            f"{root} is not an llmos workspace and is not empty ({shown})",
            hint=f"To make it one anyway, run `llmos init {root}`; or choose an empty or new "
            "folder.",
        )


@dataclass
class Workspace:
    """An llmos workspace on disk: where each kind of state lives, and its settings."""

    root: Path
    _settings: Settings | None = field(default=None, repr=False)

    @classmethod
    def open(cls, root: Path | None = None, *, init: bool = False) -> Workspace:
        """Open (and on first use create) the workspace at `root` or the default location.
        A folder that must not be one is refused (`check_root`); a workspace llmos cannot
        write is opened as it is, for the commands that only read."""
        path = (root or default_root()).expanduser()
        try:
            path = path.resolve()
        except OSError as exc:
            raise UsageError(f"cannot use the workspace {path}: {exc.strerror}") from exc
        check_root(path, init=init)
        ws = cls(path)
        ws.ensure()
        global _state_in_use
        _state_in_use = ws.state_dir
        return ws

    @property
    def read_only(self) -> bool:
        """Whether llmos cannot write the workspace (a read-only mount, permissions)."""
        return not os.access(self.root, os.W_OK | os.X_OK) or (
            self.state_dir.is_dir() and not os.access(self.state_dir, os.W_OK | os.X_OK)
        )

    def require_writable(self, doing: str) -> None:
        """Refuse, before anything starts, a command that must write a read-only workspace."""
        if self.read_only:
            raise ReadOnlyWorkspaceError(
                f"workspace {self.root} is read-only: cannot {doing}",
                hint="Make it writable, or use another workspace (--workspace DIR). Commands "
                "that only read (status, budget, traces list...) still work.",
            )

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
    def undo_dir(self) -> Path:
        """What each run changed in its working folder, kept for `llmos undo`."""
        return self.state_dir / "undo"

    @property
    def db_path(self) -> Path:
        """The ledger: the balance, every run, the projects' budgets."""
        return self.state_dir / "llmos.db"

    @property
    def audit_db_path(self) -> Path:
        """The security policy's audit trail (llmos/_internal/security/audit.py)."""
        return self.state_dir / "audit.db"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def ensure(self) -> None:
        if self.root.is_dir() and self.read_only:
            if not self.config_path.exists() and not self.state_dir.exists():
                raise ReadOnlyWorkspaceError(
                    f"workspace {self.root} is read-only and was never set up",
                    hint="Make it writable, or use another workspace (--workspace DIR).",
                )
            return  # read as it is: nothing is created
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
            text = self.config_path.read_text(encoding="utf-8")
            data = load_yaml_file(text, self.config_path) or {}
        except YAMLError as exc:
            raise UsageError(f"{self.config_path}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise UsageError(f"{self.config_path}: expected a mapping of settings")
        return Settings.from_mapping(data, source=self.config_path)


def skeleton_dir() -> Path:
    """The workspace skeleton: inside an installed wheel (`llmos/_internal/workspace_skeleton`),
    or the repository's `workspace/`."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "workspace_skeleton", package.parents[1] / "workspace"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError("the llmos workspace skeleton is missing from this installation")


def _copy_skeleton(root: Path) -> None:
    """Copy the shipped skeleton (config, README, example agents) without overwriting.
    Each file appears whole (written aside, then renamed), and `config.yaml`, whose
    presence marks a workspace, comes last: commands starting at the same moment on a new
    folder never read half a file."""
    src = skeleton_dir()
    items = sorted(
        (i for i in src.rglob("*") if i.is_file() and "__pycache__" not in i.parts),
        key=lambda i: i.name == "config.yaml",
    )
    for item in items:
        target = root / item.relative_to(src)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name(f".{target.name}.{os.getpid()}.skeleton")
            shutil.copyfile(item, staging)
            staging.replace(target)
