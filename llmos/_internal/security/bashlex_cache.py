"""Make `import bashlex` cheap: cache the LALR tables its parser builds at every import.

bashlex ships a PLY variant that recomputes its LALR(1) tables each time the module is
imported (about 150 ms on a 2-core machine), a cost every `llmos` command that checks a
shell command would pay, Follower replay included. `install()` swaps in a table class that
loads the computed tables from a file keyed by the bashlex and Python versions and by the
grammar itself, and computes and saves them when there is no such file. Any problem with the
cache falls back to computing the tables, so correctness never depends on it.

The tables decide how every shell command is read by the security policy, so their file is
kept where nothing but llmos writes: the `state/cache/` folder of the workspace the process
opened (`state/` is guarded by the policy's hard rule and hidden from sandboxed commands).
A process that opened no workspace computes them.

The tables (dicts of ints and strings) are stored with `marshal`, which is built in: `pickle`
would add its own import to every command that checks a shell command.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import marshal
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

_installed = False


def cache_dir() -> Path:
    """The user's cache folder for llmos (what is kept there is only ever a hint)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmos"


def tables_dir() -> Path | None:
    """Where the parser tables are kept: the opened workspace's guarded state, or nowhere."""
    from llmos._internal.workspace import state_dir_in_use

    state = state_dir_in_use()
    return state / "cache" if state is not None else None


def install() -> None:
    """Patch bashlex's table generator. Call before the first `import bashlex`."""
    global _installed
    if _installed or "bashlex.parser" in sys.modules:
        return
    _installed = True
    # bashlex/__init__ imports its parser, which builds the tables at once; so the PLY module
    # is patched as it is loaded, before the parser module can use it.
    sys.meta_path.insert(0, _PatchPlyOnLoad())


class _PatchPlyOnLoad:  # a meta path finder (importlib.abc is not imported: it costs ~2 ms)
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "bashlex.yacc":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        load = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            load(module)
            ply_version = str(getattr(module, "__version__", ""))
            module.LRTable = _cached_table_class(module.LRTable, ply_version)
            # yacc() also reads the parser's source at every import, only to warn about grammar
            # functions defined twice (a check for bashlex's own developers): skip it.
            module.ParserReflect.validate_modules = _no_source_check

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _no_source_check(reflect: Any) -> None:
    return None


def _cached_table_class(computed_table: Any, ply_version: str) -> type:
    class CachedLRTable(computed_table):  # type: ignore[misc]  # PLY's class, untyped
        lr_action: dict[int, Any]
        lr_goto: dict[int, Any]
        sr_conflicts: list[Any]
        rr_conflicts: list[Any]

        def __init__(self, grammar: Any, log: Any = None) -> None:
            path = _cache_path(grammar, ply_version)
            tables = _load(path) if path is not None else None
            if tables is None:
                super().__init__(grammar, log)
                if path is not None:
                    _save(path, {"action": self.lr_action, "goto": self.lr_goto})
                return
            # What LRParser and yacc() read from a table. Conflicts were resolved when the
            # tables were computed; empty lists keep yacc() from reporting them again.
            self.grammar = grammar
            self.log = log
            self.lr_action = tables["action"]
            self.lr_goto = tables["goto"]
            self.lr_productions = grammar.Productions
            self.sr_conflicts, self.rr_conflicts = [], []

    return CachedLRTable


def _cache_path(grammar: Any, ply_version: str) -> Path | None:
    folder = tables_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(f"{ply_version}|{sys.version}".encode())
    for production in grammar.Productions:
        digest.update(str(production).encode())
        digest.update(b"\0")
    return folder / f"bashlex-lalr-{digest.hexdigest()[:20]}.marshal"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        tables = marshal.loads(path.read_bytes())  # marshal.load(file) reads in small pieces
    except Exception:
        return None
    if isinstance(tables, dict) and {"action", "goto"} <= tables.keys():
        return tables
    return None


def _save(path: Path, tables: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".bashlex-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                marshal.dump(tables, handle)
            tmp.replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
