"""Policy files: the YAML that tunes the security policy without code.

Three layers, most specific first when a call is matched:

- **project** (``projects/NAME/policy.yaml``): may only tighten. It may add deny and ask
  entries and make soft rules stricter; an ``allow`` list, or a rule made looser than the
  layers below say, is an error. A project folder can come from anywhere (a clone, a shared
  archive), so nothing in it can weaken the policy;
- **workspace** (``<workspace>/policy.yaml``): the user's own file. It may add entries to any
  list and set any soft rule within its choices (`RULE_CHOICES`);
- **default** (``llmos/_internal/security/default_policy.yaml``, shipped in the package).

Matching a call: a deny entry of any layer denies; otherwise the most specific layer with an
ask or allow entry that matches decides (ask before allow within a layer). Hard rules
(`HARD_RULES`) are outside all this: no file can change them. The files llmos keeps its own
state in (these policy files, config.yaml, the databases, session logs, plugins) are guarded
by the hard rule ``llmos-state``, so the agent cannot edit its own policy either.
"""

# No `from __future__ import annotations` here: NamedTuple compiles string annotations at
# import (see shell_types).

import functools
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from llmos._internal.errors import UsageError
from llmos._internal.security.decision import (
    ACTIONS,
    HARD_RULES,
    RULE_CHOICES,
    RULES,
    STRICTNESS,
    Action,
)
from llmos._internal.security.globs import GlobList, normalize_command, path_pattern
from llmos._internal.security.lazy_regex import LazyRegex

KINDS = ("commands", "tools", "paths")
# `governance` is read by llmos/_internal/governance/policy.py (checkers, routes, evaluators).
_KEYS = ("version", "rules", *ACTIONS, "network", "governance")
POLICY_FILE = "policy.yaml"
_DOMAIN = LazyRegex(
    r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_DOCS = (
    "See llmos/_internal/security/default_policy.yaml for the format;"
    " `llmos policy show` prints it."
)


class Match(NamedTuple):
    """A list entry that matched: what it says, its glob, and the file it came from."""

    action: Action
    kind: str
    pattern: str
    layer: str
    path: str

    def describe(self) -> str:
        return f"{self.action} entry {self.pattern!r} ({self.kind}) of {self.path}"


# Layer and Policy are plain classes (compared by identity), not dataclasses: creating those
# would add a millisecond to every `llmos run`. Treat them as read-only once made.


class Layer:
    """One policy file, read and checked."""

    def __init__(
        self,
        name: str,
        path: str,
        rules: Mapping[str, Action],
        lists: Mapping[tuple[str, str], tuple[str, ...]],
        domains: tuple[str, ...] = (),
    ) -> None:
        self.name = name  # "project NAME", "workspace" or "default"
        self.path = path
        self.rules = rules
        self.lists = lists  # (action, kind) -> globs
        self.domains = domains  # `network: allow:`: what sandboxed commands may reach
        self._matchers: dict[tuple[str, str], GlobList] = {}

    def globs(self, action: str, kind: str) -> GlobList:
        """The globs of one list, made ready on first use."""
        key = (action, kind)
        if key not in self._matchers:
            self._matchers[key] = GlobList(self.lists.get(key, ()))
        return self._matchers[key]


class Policy:
    """The policy in effect for a run: its layers and llmos's own files it guards."""

    def __init__(
        self,
        layers: tuple[Layer, ...],
        guarded: tuple[str, ...] = (),
        files: tuple[tuple[str, str, bool], ...] = (),
    ) -> None:
        self.layers = layers  # most specific first
        self.guarded = guarded
        self.files = files  # (layer, path, found) for `policy show`

    def rule_action(self, rule: str) -> Action:
        if rule in HARD_RULES or rule not in RULE_CHOICES:
            return "deny" if rule != "none" else "allow"
        for layer in self.layers:
            if rule in layer.rules:
                return layer.rules[rule]
        return "deny"

    def rule_source(self, rule: str) -> str:
        return next((layer.name for layer in self.layers if rule in layer.rules), "built in")

    def match(self, kind: str, subjects: Iterable[str]) -> Match | None:
        """The list entry that decides for these command texts or tool names."""
        subjects = [normalize_command(s) for s in subjects if s]
        if not subjects:
            return None
        for layer in self.layers:
            found = _first(layer, "deny", kind, subjects)
            if found:
                return found
        for layer in self.layers:
            for action in ("ask", "allow"):
                found = _first(layer, action, kind, subjects)
                if found:
                    return found
        return None

    def match_paths(self, paths: Iterable[str], home: str, workdir: str) -> Match | None:
        paths = list(paths)
        if not paths or not self.has_path_rules:
            return None
        for layer in self.layers:
            found = _first_path(layer, "deny", paths, home, workdir)
            if found:
                return found
        for layer in self.layers:
            for action in ("ask", "allow"):
                found = _first_path(layer, action, paths, home, workdir)
                if found:
                    return found
        return None

    @functools.cached_property
    def has_path_rules(self) -> bool:
        return any(layer.lists.get((a, "paths")) for layer in self.layers for a in ("deny", "ask"))

    @functools.cached_property
    def allowed_paths(self) -> tuple[str, ...]:
        """The path globs the user allows: used like the workspace by soft rules."""
        return tuple(p for layer in self.layers for p in layer.lists.get(("allow", "paths"), ()))

    @functools.cached_property
    def allowed_domains(self) -> tuple[str, ...]:
        """The domains sandboxed commands may reach (llmos/_internal/security/sandbox.py); none: no
        network at all."""
        return tuple(dict.fromkeys(d for layer in self.layers for d in layer.domains))

    def to_dict(self) -> dict[str, Any]:
        """The policy in effect, with where each part comes from (`llmos policy show`)."""
        lists: dict[str, dict[str, list[dict[str, str]]]] = {}
        for action in ("deny", "ask", "allow"):
            lists[action] = {
                kind: [
                    {"pattern": p, "layer": layer.name}
                    for layer in self.layers
                    for p in layer.lists.get((action, kind), ())
                ]
                for kind in KINDS
            }
        return {
            "files": [{"layer": n, "path": p, "found": f} for n, p, f in self.files],
            "hard_rules": {rule: RULES[rule] for rule in sorted(HARD_RULES)},
            "rules": {
                rule: {
                    "action": self.rule_action(rule),
                    "set_by": self.rule_source(rule),
                    "choices": list(RULE_CHOICES[rule]),
                    "means": RULES[rule],
                }
                for rule in RULE_CHOICES
            },
            **lists,
            "network": {
                "allow": [
                    {"domain": d, "layer": layer.name}
                    for layer in self.layers
                    for d in layer.domains
                ]
            },
            "guarded": list(self.guarded),
        }


def _first(layer: Layer, action: str, kind: str, subjects: list[str]) -> Match | None:
    if (action, kind) not in layer.lists:
        return None
    pattern = layer.globs(action, kind).first(subjects)
    if pattern is None:
        return None
    return Match(action, kind, pattern, layer.name, layer.path)  # type: ignore[arg-type]


def _first_path(
    layer: Layer, action: str, paths: list[str], home: str, workdir: str
) -> Match | None:
    for pattern in layer.lists.get((action, "paths"), ()):
        regex = _path_regex(pattern, home, workdir)
        if regex is not None and any(regex.match(p) for p in paths):
            return Match(action, "paths", pattern, layer.name, layer.path)  # type: ignore[arg-type]
    return None


@functools.lru_cache(maxsize=512)
def _path_regex(pattern: str, home: str, workdir: str) -> re.Pattern[str] | None:
    return path_pattern([pattern], home, workdir)


# ----------------------------------------------------------------------------------- loading


def default_policy_path() -> Path:
    # Package data installed next to this module (pyproject.toml: package-data).
    return Path(__file__).with_name("default_policy.yaml")


@functools.lru_cache(maxsize=1)
def _default_layer() -> Layer:
    path = default_policy_path()
    return _layer("default", path, _read(path), below=None)


@functools.lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped policy alone: what calls are judged by when no workspace is given."""
    layer = _default_layer()
    return Policy((layer,), files=(("default", layer.path, True),))


def load_policy(workspace: Path | None, project: str | None = None) -> Policy:
    """The policy in effect in `workspace` (and `project`): the shipped default, the
    workspace's policy.yaml and the project's. Raises `UsageError` for a bad file."""
    default = _default_layer()
    if workspace is None:
        return default_policy()
    root = Path(workspace)
    layers = [default]
    files = [("default", default.path, True)]
    ws_file = root / POLICY_FILE
    found = ws_file.is_file()
    files.append(("workspace", str(ws_file), found))
    if found:
        data = _read_cached(str(ws_file), _stamp(ws_file))
        layers.insert(0, _layer("workspace", ws_file, data, below=None))
    if project:
        project_file = root / "projects" / project / POLICY_FILE
        found = project_file.is_file()
        files.append((f"project {project}", str(project_file), found))
        if found:
            data = _read_cached(str(project_file), _stamp(project_file))
            below = Policy(tuple(layers))
            layers.insert(0, _layer(f"project {project}", project_file, data, below=below))
    return Policy(tuple(layers), _guarded(root, project), tuple(files))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=32)
def _read_cached(path: str, stamp: tuple[int, int]) -> Any:
    """A policy file's content, read again only when the file changes (`stamp`)."""
    return _read(Path(path))


def _guarded(root: Path, project: str | None) -> tuple[str, ...]:
    """llmos's own files in the workspace, which no tool call may change."""
    paths = [root / POLICY_FILE, root / "config.yaml", root / "state", root / "plugins"]
    paths.append(root / "gateway.yaml")  # the gateway's tool map and settings
    paths.append(root / "memories" / "sessions")
    projects = root / "projects"
    names = {project} if project else set()
    if projects.is_dir():
        names.update(p.name for p in projects.iterdir() if p.is_dir())
    for name in sorted(n for n in names if n):
        paths += [projects / name / POLICY_FILE, projects / name / "project.yaml"]
    return tuple(os.fspath(p) for p in paths)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the policy file ({exc})") from exc
    from llmos._internal.yaml_cache import load_yaml_file
    from llmos._internal.yaml_text import YAMLError

    try:
        return load_yaml_file(text, path)
    except YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML ({exc})", hint=_DOCS) from exc


def _layer(name: str, path: Path, data: Any, *, below: Policy | None) -> Layer:
    def fail(message: str, hint: str = _DOCS) -> UsageError:
        return UsageError(f"{path}: {message}", hint=hint)

    data = {} if data is None else data
    if not isinstance(data, dict):
        raise fail("expected a mapping with rules, deny, ask and allow")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
    if data.get("version", 1) != 1:
        raise fail(f"version {data.get('version')!r} is not supported (this llmos reads 1)")
    rules = _rules(data.get("rules"), fail, below)
    lists: dict[tuple[str, str], tuple[str, ...]] = {}
    for action in ACTIONS:
        section = data.get(action)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise fail(f"{action}: expected a mapping of {', '.join(KINDS)}")
        for kind, globs in section.items():
            if kind not in KINDS:
                raise fail(f"{action}: unknown list {kind!r}; known: {', '.join(KINDS)}")
            if globs is None:
                continue
            if not isinstance(globs, list) or not all(isinstance(g, str) and g for g in globs):
                raise fail(f"{action}.{kind}: expected a list of non-empty strings")
            if action == "allow" and below is not None and globs:
                raise fail(
                    "a project policy may only tighten the policy: it cannot allow",
                    hint="Put allow entries in the workspace's policy.yaml.",
                )
            lists[(action, kind)] = tuple(globs)
    return Layer(name, str(path), rules, lists, _domains(data.get("network"), fail, below))


def _domains(raw: Any, fail: Any, below: Policy | None) -> tuple[str, ...]:
    """`network: {allow: [domain, ...]}`: the domains sandboxed commands may reach."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or set(raw) - {"allow"}:
        raise fail("network: expected a mapping with one list, allow (of domain names)")
    domains = raw.get("allow") or []
    if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
        raise fail("network.allow: expected a list of domain names")
    bad = [d for d in domains if not _DOMAIN.match(d)]
    if bad:
        raise fail(f"network.allow: {bad[0]!r} is not a domain name (e.g. pypi.org, *.npmjs.org)")
    if below is not None and domains:
        raise fail(
            "a project policy may only tighten the policy: it cannot allow network access",
            hint="Allow domains in the workspace's policy.yaml.",
        )
    return tuple(d.lower() for d in domains)


def _rules(raw: Any, fail: Any, below: Policy | None) -> dict[str, Action]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail("rules: expected a mapping of rule: deny | ask | allow")
    rules: dict[str, Action] = {}
    for rule, action in raw.items():
        if rule in HARD_RULES:
            raise fail(
                f"rules: {rule} is a hard rule: it always denies, and no policy file changes it",
                hint="`llmos policy show` lists the hard rules.",
            )
        if rule not in RULE_CHOICES:
            raise fail(f"rules: unknown rule {rule!r}; soft rules: {', '.join(RULE_CHOICES)}")
        if action not in RULE_CHOICES[rule]:
            choices = " or ".join(RULE_CHOICES[rule])
            raise fail(f"rules: {rule} may be {choices}, not {action!r}")
        if below is not None and STRICTNESS[action] < STRICTNESS[below.rule_action(rule)]:
            raise fail(
                f"rules: {rule}: {action} is looser than {below.rule_action(rule)}, and a "
                "project policy may only tighten",
                hint="Change soft rules for every project in the workspace's policy.yaml.",
            )
        rules[rule] = action
    return rules
