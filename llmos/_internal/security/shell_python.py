"""What a Python one-liner (``python -c``) does to the system, read with Python's own parser.

The shell commands it runs (``os.system``, ``subprocess.*``, ``os.exec*``, ``pty.spawn``...)
and the files it deletes, writes, reads, copies or changes the mode of are returned as
equivalent shell text, so that the same rules judge ``shutil.rmtree('/etc')`` and
``rm -rf /etc``. Values are followed through string literals, concatenation, f-strings,
``os.path.join``, ``pathlib`` and simple assignments; anything only known at run time becomes
`UNKNOWN` (a command whose name is unknown is then asked about, not allowed). Code that does
not parse as Python returns None, and the caller falls back to patterns.
"""

from __future__ import annotations

import ast
import re
import shlex

from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.shell_types import UNKNOWN

_SHELL_STRING = {  # run their first argument through /bin/sh
    "os.system",
    "os.popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "commands.getoutput",
    "commands.getstatusoutput",
    "asyncio.create_subprocess_shell",
}
_PROCESS = {  # run a program: an argv list, or a string that is a shell command with shell=True
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
    "asyncio.create_subprocess_exec",
    "pty.spawn",
}
_EXEC = LazyRegex(r"^os\.(exec|spawn|posix_spawn)\w*$")
_DELETE = {"shutil.rmtree", "os.remove", "os.unlink", "os.rmdir", "os.removedirs"}
_COPY = {"shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree"}
_MOVE = {"shutil.move", "os.rename", "os.replace", "os.renames"}
_PATH_TYPES = {"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath"}
_PATH_METHODS = {  # method of a path -> shell equivalent (the path is appended)
    "unlink": "rm -f --",
    "rmdir": "rm -rf --",
    "write_text": ": >>",
    "write_bytes": ": >>",
    "touch": "touch --",
    "mkdir": "mkdir -p --",
    "read_text": "cat --",
    "read_bytes": "cat --",
}
_MAX_DEPTH = 3
# Methods whose result names the same path as the object (for judging, ~ is home already).
_SAME_PATH = {"expanduser", "resolve", "absolute", "as_posix", "strip", "rstrip", "__str__"}


def python_effects(code: str, depth: int = 0) -> list[tuple[str, bool]] | None:
    """(shell text, fed with the program's output) for each effect of `code`, or None when
    `code` is not Python."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    reader = _Reader(depth)
    reader.visit(tree)
    return reader.effects


def quote(word: str) -> str:
    """`word` quoted for the shell, with `UNKNOWN` parts kept as run-time values and a
    leading ``~`` still expanded."""
    if word == "~" or word.startswith("~/"):
        return '"$HOME"' + quote(word[1:]) if len(word) > 1 else '"$HOME"'
    pieces = word.split(UNKNOWN)
    return f'"{UNKNOWN}"'.join(shlex.quote(p) if p else "" for p in pieces) or "''"


class _Reader(ast.NodeVisitor):
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.aliases: dict[str, str] = {}  # local name -> dotted module path
        self.values: dict[str, ast.expr] = {}  # simple assignments, last one wins
        self.effects: list[tuple[str, bool]] = []

    # -- names -------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else local

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}"

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.values[target.id] = node.value
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        # A loop variable stands for what it iterates over (a glob stays a glob); over a
        # literal list, the body is read once per item.
        if isinstance(node.target, ast.Name) and isinstance(node.iter, ast.List | ast.Tuple):
            for item in node.iter.elts[:8]:
                self.values[node.target.id] = item
                for statement in node.body:
                    self.visit(statement)
            return
        if isinstance(node.target, ast.Name):
            self.values[node.target.id] = node.iter
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if isinstance(node.target, ast.Name):
            self.values[node.target.id] = node.iter
        self.generic_visit(node)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        for generator in node.generators:  # the loop variables first, then what uses them
            self.visit(generator)
        self.visit(node.elt)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = _comprehension  # noqa: N815  # ast.NodeVisitor names

    def dotted(self, node: ast.expr, seen: int = 0) -> str:
        """The dotted name a callee stands for: ``sp.run`` -> ``subprocess.run``."""
        if seen > 20:
            return ""
        if isinstance(node, ast.Name):
            if node.id in self.values and node.id not in self.aliases:
                return self.dotted(self.values[node.id], seen + 1)
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            return f"{self.dotted(node.value, seen + 1)}.{node.attr}"
        if isinstance(node, ast.Call):  # __import__('os'), importlib.import_module('os')
            func = self.dotted(node.func, seen + 1)
            literal = self.literal(node.args[0]) if node.args else None
            if func in ("__import__", "importlib.import_module") and literal:
                return literal
            if func == "getattr" and len(node.args) >= 2:
                attr = self.literal(node.args[1])
                return f"{self.dotted(node.args[0], seen + 1)}.{attr}" if attr else ""
        return ""

    @staticmethod
    def literal(node: ast.expr) -> str | None:
        return (
            node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
        )

    # -- values ------------------------------------------------------------------------------

    def value(self, node: ast.expr | None, seen: int = 0) -> str:
        """The text `node` evaluates to, with `UNKNOWN` for what only the run knows."""
        if node is None or seen > 20:
            return UNKNOWN
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str) else str(node.value)
        if isinstance(node, ast.JoinedStr):
            return "".join(
                self.value(v, seen + 1) if isinstance(v, ast.Constant) else UNKNOWN
                for v in node.values
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.value(node.left, seen + 1) + self.value(node.right, seen + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # Path / "part"
            return _join(self.value(node.left, seen + 1), self.value(node.right, seen + 1))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return re.sub(r"%[-#0-9.]*[sdrif]", UNKNOWN, self.value(node.left, seen + 1))
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.value(self.values[node.id], seen + 1)
        if isinstance(node, ast.Call):
            return self.call_value(node, seen)
        if isinstance(node, ast.Subscript) and self.dotted(node.value) == "os.environ":
            return "~" if self.literal(node.slice) == "HOME" else UNKNOWN
        return UNKNOWN

    def call_value(self, node: ast.Call, seen: int) -> str:
        func = self.dotted(node.func)
        args = [self.value(a, seen + 1) for a in node.args]
        if func in ("os.path.join", "posixpath.join"):
            joined = args[0] if args else UNKNOWN
            for part in args[1:]:
                joined = _join(joined, part)
            return joined
        if func in _PATH_TYPES or func == "str":
            return args[0] if args else "."
        if func in ("os.path.expanduser", "os.path.abspath", "os.path.realpath"):
            return args[0] if args else UNKNOWN
        if func in ("glob.glob", "glob.iglob"):
            return args[0] if args else UNKNOWN
        if func in ("os.listdir", "os.scandir", "os.walk"):
            return _join(args[0] if args else ".", "*")
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("iterdir", "glob", "rglob"):
            pattern = args[0] if args and node.func.attr != "iterdir" else "*"
            return _join(self.value(node.func.value, seen + 1), pattern)
        if func.endswith(".home") or (func in ("os.getenv", "os.environ.get") and args == ["HOME"]):
            return "~"
        if func.endswith(".format") and isinstance(node.func, ast.Attribute):
            return re.sub(r"\{[^}]*\}", UNKNOWN, self.value(node.func.value, seen + 1))
        if isinstance(node.func, ast.Attribute) and node.func.attr in _SAME_PATH:
            return self.value(node.func.value, seen + 1)  # Path('~').expanduser() and the like
        return UNKNOWN

    def argv(self, node: ast.expr) -> list[str] | None:
        """The words of an argv list or tuple, or None when `node` is not one."""
        if isinstance(node, ast.Name) and node.id in self.values:
            return self.argv(self.values[node.id])
        if isinstance(node, ast.List | ast.Tuple):
            return [self.value(e) for e in node.elts]
        return None

    # -- effects -----------------------------------------------------------------------------

    def add(self, text: str, *, fed: bool = False) -> None:
        self.effects.append((text, fed))

    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        func = self.dotted(node.func)
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        fed = "input" in kwargs or "stdin" in kwargs
        first = node.args[0] if node.args else kwargs.get("args")
        if func in _SHELL_STRING and first is not None:
            self.add(self.value(first), fed=fed)
        elif (func in _PROCESS or _EXEC.match(func)) and first is not None:
            self.process(func, node, first, kwargs, fed)
        elif func in _DELETE and first is not None:
            self.add("rm -rf -- " + quote(self.value(first)))
        elif func in _COPY | _MOVE and len(node.args) >= 2:
            verb = "cp -r --" if func in _COPY else "mv --"
            self.add(f"{verb} {quote(self.value(node.args[0]))} {quote(self.value(node.args[1]))}")
        elif func == "os.symlink" and len(node.args) >= 2:
            self.add(
                f"ln -s -- {quote(self.value(node.args[0]))} {quote(self.value(node.args[1]))}"
            )
        elif func in ("os.chmod", "os.chown") and len(node.args) >= 2:
            self.chmod(func, node)
        elif func in ("open", "io.open", "codecs.open") and first is not None:
            self.open_call(node, first, kwargs)
        elif func in ("exec", "eval") and first is not None:
            self.nested(first)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in _PATH_METHODS:
            shell = _PATH_METHODS[node.func.attr]
            self.add(f"{shell} {quote(self.value(node.func.value))}")

    def process(
        self, func: str, node: ast.Call, first: ast.expr, kwargs: dict[str, ast.expr], fed: bool
    ) -> None:
        shell = kwargs.get("shell")
        uses_shell = isinstance(shell, ast.Constant) and bool(shell.value)
        if _EXEC.match(func):  # os.execv(path, argv), os.execl(path, arg0, arg1, ...)
            words = self.argv(node.args[1]) if len(node.args) > 1 else None
            if words is None:
                words = [self.value(a) for a in node.args[1:]] or [self.value(first)]
            words = words or [self.value(first)]
            self.add(" ".join(quote(w) for w in words), fed=fed)
            return
        words = self.argv(first)
        if words is None:  # a single string: a shell command line, or a program name
            text = self.value(first)
            self.add(text if uses_shell else quote(text), fed=fed)
        elif uses_shell and words:  # with a list, the first item is the shell's command line
            self.add(words[0], fed=fed)
        else:
            self.add(" ".join(quote(w) for w in words) or UNKNOWN, fed=fed)

    def chmod(self, func: str, node: ast.Call) -> None:
        path = quote(self.value(node.args[0]))
        mode = node.args[1]
        if func == "os.chown":
            self.add(f"chown {UNKNOWN} {path}")
        elif isinstance(mode, ast.Constant) and isinstance(mode.value, int):
            self.add(f"chmod {mode.value:04o} {path}")
        else:
            self.add(f"chmod {UNKNOWN} {path}")

    def open_call(self, node: ast.Call, first: ast.expr, kwargs: dict[str, ast.expr]) -> None:
        mode_node = node.args[1] if len(node.args) > 1 else kwargs.get("mode")
        mode = "r" if mode_node is None else self.value(mode_node)
        path = quote(self.value(first))
        if UNKNOWN in mode or set(mode) & set("wax+"):
            self.add(f": >> {path}")
        else:
            self.add(f"cat -- {path}")

    def nested(self, node: ast.expr) -> None:
        literal = self.literal(node)
        if literal is not None and self.depth < _MAX_DEPTH:
            self.effects.extend(python_effects(literal, self.depth + 1) or [])


def _join(left: str, right: str) -> str:
    if right.startswith("/"):
        return right
    return left.rstrip("/") + "/" + right if left else right
