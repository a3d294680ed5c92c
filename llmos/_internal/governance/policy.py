"""The governance policy in effect for a run: the `governance:` section of the workspace's
`policy.yaml` and of the project's, plus what the run's plugins contribute.

```yaml
governance:
  checkers:
    - require: verify after write
    - require: read before edit
    - forbid: network after credential-read
    - forbid: git push before verify passed
    - max: {write: 20}
    - stop after 3 failures of the same command
  max_stop_blocks: 2          # times the run may be sent back before it stops, failed
  routes:
    - when: the same command failed 3 times
      then: hand over to coder
    - when: 80% of the budget spent before verify passed
      then: ask a human
  evaluators:
    tests_passed: true        # the default; `gate: false` to save traces whatever the tests
    change_size: {max_lines: 400}
    model_graded: {enabled: true, budget_usd: 0.02, model: haiku}
```

A project's section adds its checkers and routes to the workspace's and may change evaluator
settings, but not turn an evaluator or its gate off, nor raise `max_stop_blocks` (a project
folder may come from anywhere). A bad entry stops the run before anything is spent, with the
file, the entry and what is wrong (`UsageError`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.governance.checkers import Checker, PluginChecker, parse_checker
from llmos._internal.governance.current import POLICY_FILE, SECTION
from llmos._internal.governance.evaluators import (
    AgainstHistory,
    ChangeSize,
    Evaluator,
    PluginEvaluator,
    TestsPassed,
)
from llmos._internal.governance.routers import AnyRouter, PluginRouter, parse_router
from llmos._internal.governance.selectors import VocabularyError

_KEYS = ("checkers", "routes", "evaluators", "max_stop_blocks")
DEFAULT_STOP_BLOCKS = 2
_DOCS = "See README.md, 'Governance', for the vocabulary (checkers, routes, evaluators)."

# Each shipped evaluator's settings and their defaults.
EVALUATOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "tests_passed": {"enabled": True, "gate": True},
    "change_size": {"enabled": True, "gate": False, "max_lines": None, "max_files": None},
    "time_vs_history": {"enabled": True, "gate": False, "max_ratio": 3.0},
    "cost_vs_history": {"enabled": True, "gate": False, "max_ratio": 3.0},
    "model_graded": {
        "enabled": False,
        "gate": False,
        "budget_usd": 0.02,
        "model": "haiku",
        "min_score": 0.5,
    },
}


@frozen
class GovernancePolicy:
    """The governance in effect for a run, from the policy files and the run's plugins."""

    checkers: tuple[Checker, ...] = ()
    routers: tuple[AnyRouter, ...] = ()
    evaluators: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {k: dict(v) for k, v in EVALUATOR_DEFAULTS.items()}
    )
    max_stop_blocks: int = DEFAULT_STOP_BLOCKS
    plugin_evaluators: tuple[PluginEvaluator, ...] = ()
    files: tuple[str, ...] = ()  # the policy files whose sections it holds
    # The settings a file gave explicitly (what a layer changes when combined).
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def governs_calls(self) -> bool:
        return bool(self.checkers or self.routers)

    def with_plugins(self, plugins: Any) -> GovernancePolicy:
        """This policy plus the checkers, routers and evaluators of `plugins` (the run's
        loaded plugins: `Plugin` objects)."""
        checkers: list[Checker] = list(self.checkers)
        routers: list[AnyRouter] = list(self.routers)
        evaluators = list(self.plugin_evaluators)
        for plugin in plugins:
            for item in getattr(plugin, "checkers", ()):
                checkers.append(PluginChecker(item.name, item.function, item.phases))
            for item in getattr(plugin, "routers", ()):
                routers.append(PluginRouter(item.name, item.function))
            for item in getattr(plugin, "evaluators", ()):
                evaluators.append(PluginEvaluator(item.name, item.function, item.gate))
        unchanged = (len(checkers), len(routers), len(evaluators)) == (
            len(self.checkers),
            len(self.routers),
            len(self.plugin_evaluators),
        )
        if unchanged:
            return self
        return replace(
            self,
            checkers=tuple(checkers),
            routers=tuple(routers),
            plugin_evaluators=tuple(evaluators),
        )

    @property
    def hands_over(self) -> bool:
        """Whether a router may hand a goal over to an agent (plugin routers may)."""
        return any(r.action in ("handoff", "plugin") for r in self.routers)

    def check_agents(self, names: Iterable[str]) -> None:
        """UsageError if a route hands over to an agent that is not among `names`."""
        known = set(names)
        for router in self.routers:
            if router.action == "handoff" and router.target not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise UsageError(
                    f"governance route {router.name!r} hands over to {router.target!r}, "
                    f"which is not an agent of this run (agents: {listed})",
                    hint="See `llmos agents list`, and fix the route in policy.yaml.",
                )

    def build_evaluators(self) -> list[Evaluator]:
        """The evaluators that run (model_graded runs apart: it needs the model)."""
        found: list[Evaluator] = []
        settings = self.evaluators
        tests = settings["tests_passed"]
        if tests["enabled"]:
            found.append(TestsPassed(gate=tests["gate"]))
        size = settings["change_size"]
        if size["enabled"]:
            found.append(ChangeSize(gate=size["gate"], max_lines=size["max_lines"],
                                    max_files=size["max_files"]))  # fmt: skip
        for name, measure in (("time_vs_history", "time"), ("cost_vs_history", "cost")):
            conf = settings[name]
            if conf["enabled"]:
                found.append(AgainstHistory(name, conf["gate"], conf["max_ratio"], measure))
        found += self.plugin_evaluators
        return found

    def to_dict(self) -> dict[str, Any]:
        """What `llmos policy show --json` prints of it."""
        return {
            "files": list(self.files),
            "checkers": [c.name for c in self.checkers],
            "routes": [
                {"name": r.name, "action": r.action, "target": r.target} for r in self.routers
            ],
            "evaluators": self.evaluators,
            "max_stop_blocks": self.max_stop_blocks,
        }


NO_GOVERNANCE = GovernancePolicy()


def load_governance(workspace: Path | None, project: str | None = None) -> GovernancePolicy:
    """The governance of runs in `workspace` (and `project`); UsageError for a bad entry."""
    if workspace is None:
        return NO_GOVERNANCE
    root = Path(workspace)
    paths = [root / POLICY_FILE]
    if project:
        paths.append(root / "projects" / project / POLICY_FILE)
    policy = NO_GOVERNANCE
    for index, path in enumerate(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        section = _section(str(path), stat.st_mtime_ns, stat.st_size)
        if section is not None:
            policy = _combine(policy, section, project_layer=index > 0)
    return policy


@functools.lru_cache(maxsize=32)
def _section(path: str, mtime_ns: int, size: int) -> GovernancePolicy | None:
    """One file's governance section, parsed (cached until the file changes)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the policy file ({exc})") from exc
    if SECTION not in text:
        return None  # most policy files: no YAML parsed here at all
    from llmos._internal.yaml_cache import load_yaml_file
    from llmos._internal.yaml_text import YAMLError

    try:
        data = load_yaml_file(text, path)
    except YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({exc})", hint=_DOCS) from exc
    if not isinstance(data, dict) or data.get(SECTION) is None:
        return None
    return parse_section(data[SECTION], path)


def parse_section(raw: Any, path: str = POLICY_FILE) -> GovernancePolicy:
    """A `governance:` section as a policy; UsageError naming the file and the bad entry."""

    def fail(where: str, message: str) -> UsageError:
        return UsageError(f"{path}: {SECTION}.{where}: {message}", hint=_DOCS)

    if not isinstance(raw, dict):
        raise UsageError(f"{path}: {SECTION}: expected a mapping of {', '.join(_KEYS)}", hint=_DOCS)
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; known: {', '.join(_KEYS)}")
    checkers: list[Checker] = []
    for i, entry in enumerate(_list(raw.get("checkers"), "checkers", fail)):
        try:
            checkers += parse_checker(entry)
        except VocabularyError as exc:
            raise fail(f"checkers[{i}] {_shown(entry)}", str(exc)) from exc
    routers: list[AnyRouter] = []
    for i, entry in enumerate(_list(raw.get("routes"), "routes", fail)):
        try:
            routers.append(parse_router(entry, i + 1))
        except VocabularyError as exc:
            raise fail(f"routes[{i}] {_shown(entry)}", str(exc)) from exc
    blocks = raw.get("max_stop_blocks", DEFAULT_STOP_BLOCKS)
    if type(blocks) is not int or blocks < 0:
        raise fail("max_stop_blocks", f"expected a whole number >= 0, not {blocks!r}")
    overrides = _evaluators(raw.get("evaluators"), fail)
    evaluators = {k: {**v, **overrides.get(k, {})} for k, v in EVALUATOR_DEFAULTS.items()}
    return GovernancePolicy(
        tuple(checkers), tuple(routers), evaluators, blocks, files=(path,), overrides=overrides
    )


def _list(value: Any, key: str, fail: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(key, "expected a list of entries")
    return value


def _shown(entry: Any) -> str:
    """An entry as its file says it, on one line."""
    if isinstance(entry, dict) and entry:
        return repr(", ".join(f"{key}: {value}" for key, value in entry.items()))
    return repr(entry)


def _evaluators(raw: Any, fail: Any) -> dict[str, dict[str, Any]]:
    """The evaluator settings a section gives explicitly, checked."""
    overrides: dict[str, dict[str, Any]] = {}
    if raw is None:
        return overrides
    if not isinstance(raw, dict):
        raise fail("evaluators", "expected a mapping of evaluator: settings")
    for name, value in raw.items():
        if name not in EVALUATOR_DEFAULTS:
            known = ", ".join(EVALUATOR_DEFAULTS)
            raise fail(f"evaluators.{name}", f"unknown evaluator; shipped: {known}")
        conf = overrides[name] = {}
        if isinstance(value, bool):
            conf["enabled"] = value
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            raise fail(f"evaluators.{name}", "expected true, false or a mapping of settings")
        conf["enabled"] = value.get("enabled", True)
        for key, setting in value.items():
            if key not in EVALUATOR_DEFAULTS[name]:
                known = ", ".join(EVALUATOR_DEFAULTS[name])
                raise fail(f"evaluators.{name}.{key}", f"unknown setting; known: {known}")
            conf[key] = _setting(name, key, setting, EVALUATOR_DEFAULTS[name][key], fail)
    return overrides


def _setting(name: str, key: str, value: Any, default: Any, fail: Any) -> Any:
    where = f"evaluators.{name}.{key}"
    if key in ("enabled", "gate"):
        if not isinstance(value, bool):
            raise fail(where, f"expected true or false, not {value!r}")
        return value
    if key == "model":
        if not isinstance(value, str) or not value.strip():
            raise fail(where, "expected a model name or alias")
        return value.strip()
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise fail(where, f"expected a number >= 0, not {value!r}")
    if key in ("max_lines", "max_files"):
        if value != int(value):
            raise fail(where, f"expected a whole number, not {value!r}")
        return int(value)
    if key == "min_score" and value > 1:
        raise fail(where, "expected a score from 0 to 1")
    return float(value)


def _combine(
    base: GovernancePolicy, layer: GovernancePolicy, *, project_layer: bool
) -> GovernancePolicy:
    """`layer` over `base`. A project layer may add rules and change settings, never loosen."""
    evaluators = {k: dict(v) for k, v in base.evaluators.items()}
    overrides = {k: dict(v) for k, v in base.overrides.items()}
    for name, conf in layer.overrides.items():
        merged = evaluators[name]
        for key, value in conf.items():
            if project_layer and key in ("enabled", "gate") and merged[key] and not value:
                continue  # a project cannot turn an evaluator or its gate off
            merged[key] = value
            overrides.setdefault(name, {})[key] = value
    blocks = layer.max_stop_blocks
    if project_layer:
        blocks = min(base.max_stop_blocks, blocks)
    return GovernancePolicy(
        base.checkers + layer.checkers,
        base.routers + layer.routers,
        evaluators,
        blocks,
        files=base.files + layer.files,
        overrides=overrides,
    )


def run_policy(
    workspace: Path, project: str | None, plugins: Iterable[Any] = ()
) -> GovernancePolicy:
    """The governance of a run in `project`: its policy files' sections and its plugins'
    checkers, routers and evaluators (`plugins`: the run's `Plugin` objects)."""
    return load_governance(workspace, project).with_plugins(list(plugins))
