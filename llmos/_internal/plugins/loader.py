"""Finding and loading plugins: the workspace's `plugins/` folder and installed packages.

A plugin is a Python module (a `.py` file or a package folder) in `<workspace>/plugins/`,
or an installed package's entry point in the group `llmos.plugins`; either way it provides
a `Plugin` (a module attribute named `plugin`, or the entry point's object itself).

Loading never raises: a plugin that fails to import or is defined wrongly becomes a
`PluginFailure` with the reason, which `llmos plugins list` shows, and every other plugin
still loads. Modules are cached per file (re-read when the file changes), and the entry
points found are cached in the workspace keyed on the stamps of `sys.path`, so a run does
not pay for scanning every installed distribution each time.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_text
from llmos._internal.plugins.registry import LoadedPlugin, PluginFailure, PluginRegistry
from llmos._internal.plugins.types import Plugin

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "llmos.plugins"
_ENTRY_VALUE = re.compile(r"^\s*(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+)\s*)?(\[.*\])?\s*$")
_file_cache: dict[Path, tuple[tuple[int, int], Plugin]] = {}


@frozen
class EntryPointInfo:
    """An installed package's `llmos.plugins` entry point, as found (and cached) before loading."""

    name: str
    value: str  # "module:attribute"
    dist: str  # "name version" of the distribution that declares it


def load_plugins(folder: Path | None, *, cache: Path | None = None) -> PluginRegistry:
    """Every plugin in `folder` (if given) and every installed entry-point plugin."""
    loaded: list[LoadedPlugin] = []
    failures: list[PluginFailure] = []
    for path in plugin_files(folder):
        try:
            loaded.append(LoadedPlugin(_load_file(path), str(path)))
        except BaseException as exc:  # a plugin may raise anything, SystemExit included
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(PluginFailure(str(path), describe_failure(exc, path)))
    for entry in entry_points(cache):
        source = f"entry point {entry.name} = {entry.value}" + (
            f" ({entry.dist})" if entry.dist else ""
        )
        try:
            loaded.append(LoadedPlugin(_load_entry_point(entry), source))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(PluginFailure(source, describe_failure(exc, None)))
    return PluginRegistry.of(loaded, failures)


def plugin_files(folder: Path | None) -> list[Path]:
    """Plugin modules in `folder`: `name.py` files and `name/__init__.py` packages."""
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        module = path.suffix == ".py" and path.is_file()
        if module or (path.is_dir() and (path / "__init__.py").is_file()):
            found.append(path)
    return found


def _load_file(path: Path) -> Plugin:
    init = path / "__init__.py" if path.is_dir() else path
    stat = init.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _file_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"llmos_workspace_plugin_{digest}_{stem}"
    spec = importlib.util.spec_from_file_location(
        module_name, init, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    plugin = _plugin_of(module, f"{path.name}")
    _file_cache[path] = (stamp, plugin)
    return plugin


def _load_entry_point(entry: EntryPointInfo) -> Plugin:
    match = _ENTRY_VALUE.match(entry.value)
    if not match:
        raise ImportError(f"malformed entry point value {entry.value!r}")
    target: Any = importlib.import_module(match.group("module"))
    for attr in (match.group("attr") or "").split(".") if match.group("attr") else []:
        target = getattr(target, attr)
    return _plugin_of(target, entry.value)


def _plugin_of(target: Any, where: str) -> Plugin:
    if isinstance(target, Plugin):
        return target
    plugin = getattr(target, "plugin", None) if isinstance(target, ModuleType) else None
    if not isinstance(plugin, Plugin):
        raise TypeError(
            f"{where} defines no plugin: create one with "
            '`plugin = llmos.plugins.Plugin("name")` at the top of the module'
        )
    return plugin


def describe_failure(exc: BaseException, path: Path | None) -> str:
    """One line: what went wrong and, when it is in the plugin's own code, where."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    where = ""
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f"{Path(exc.filename or '').name} line {exc.lineno}"
    elif path is not None:
        root = str(path)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root)]
        if frames:
            where = f"{Path(frames[-1].filename).name} line {frames[-1].lineno}"
    hint = getattr(exc, "hint", None)
    line = " ".join(f"{text} ({where})".split()) if where else " ".join(text.split())
    return f"{line}. {hint}" if hint else line


# Entry points -------------------------------------------------------------------------------
def entry_points(cache: Path | None) -> list[EntryPointInfo]:
    """The `llmos.plugins` entry points of installed distributions (cached; see the module)."""
    stamp = _sys_path_stamp()
    if cache is not None:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("stamp") == stamp:
                return [EntryPointInfo(**item) for item in data["entries"]]
        except (OSError, ValueError, TypeError, KeyError):
            pass
    found = scan_entry_points()
    if cache is not None:
        try:
            payload = {"stamp": stamp, "entries": [e.__dict__ for e in found]}
            atomic_write_text(cache, json.dumps(payload, indent=1))
        except OSError as exc:
            log.warning("cannot cache plugin entry points in %s: %s", cache, exc)
    return found


def scan_entry_points() -> list[EntryPointInfo]:
    from importlib.metadata import entry_points as installed  # ~30 ms: only when needed

    found = []
    for ep in installed(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        label = f"{dist.name} {dist.version}" if dist is not None else ""
        found.append(EntryPointInfo(ep.name, ep.value, label))
    return sorted(found, key=lambda e: (e.name, e.value))


def _sys_path_stamp() -> list[list[Any]]:
    """Installing or removing a distribution changes the mtime of its sys.path folder. The
    folder Python put first for this start is left out (the current folder for `python -m
    llmos`, the script's for the `llmos` command): any file made there would change its
    mtime, it differs between the two ways to start, and distributions are not installed
    into it."""
    stamp: list[list[Any]] = []
    started_from = {"", ".", str(Path.cwd())}
    if sys.argv and sys.argv[0]:
        script = Path(sys.argv[0])
        started_from |= {str(script.absolute().parent), str(script.resolve().parent)}
    for entry in sys.path:
        if entry in started_from:
            continue
        try:
            stamp.append([entry, Path(entry or ".").stat().st_mtime_ns])
        except OSError:
            continue
    return stamp
