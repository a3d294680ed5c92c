"""What `make` would run: the recipes of the targets a call builds, read from a Makefile's text.

Enough of GNU make for judging the commands: variables (``=``, ``:=``, ``?=``, ``+=``, and
those given on make's command line), ``$(VAR)`` / ``${VAR}`` / ``$V`` and the automatic
variables in recipes, ``$$``, the recipe prefixes ``@ - +``, continued lines, the default goal
(or ``.DEFAULT_GOAL``) and prerequisites, followed recursively. Conditionals are not
evaluated: every branch counts. A goal with no rule of its own (a pattern rule, an included
file) runs every recipe: when unsure, everything is judged. ``$(shell ...)`` in a variable
runs when make reads the file, so it is always judged.

A variable that is not set in the file may come from the environment or make's command line:
its value is `UNKNOWN` (never guessed empty).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from llmos._internal.security.shell_types import UNKNOWN

_ASSIGN = re.compile(
    r"^(?:export\s+|override\s+)?([A-Za-z_][\w.-]*)\s*(:{1,3}=|\?=|\+=|!=|=)\s*(.*)$"
)
_RULE = re.compile(r"^([^:=#\t][^:=#]*?)\s*(::?)(?!=)\s*(.*)$")
_DIRECTIVE = re.compile(
    r"^\s*(ifeq|ifneq|ifdef|ifndef|else|endif|include|-include|sinclude|vpath|unexport)\b"
)
_MAX_LINES = 400


class Makefile:
    """A Makefile's rules and variables, read once."""

    def __init__(self, text: str, overrides: Mapping[str, str]) -> None:
        self.variables: dict[str, str] = {}
        self.rules: dict[str, tuple[list[str], list[str]]] = {}  # target -> (prereqs, recipe)
        self.order: list[str] = []
        self.default_goal = ""
        self.shell_calls: list[str] = []  # $(shell ...) run while the file is read
        self.recipe_prefix = "\t"
        self.one_shell = False
        self._read(text)
        self.variables.update(overrides)

    def _read(self, text: str) -> None:
        lines = _logical_lines(text)[:_MAX_LINES]
        current: list[str] | None = None
        in_define = False
        for line in lines:
            if in_define:
                in_define = not line.strip().startswith("endef")
                continue
            if line.startswith(self.recipe_prefix) and current is not None:
                current.append(line[len(self.recipe_prefix) :])
                continue
            stripped = line.split("#", 1)[0].strip() if not line.startswith("\t") else ""
            if not stripped:
                continue
            if stripped.startswith("define "):
                in_define = True
                continue
            if _DIRECTIVE.match(stripped):
                continue
            assign = _ASSIGN.match(stripped)
            if assign:
                self._assign(*assign.groups())
                continue
            rule = _RULE.match(stripped)
            if rule is None:
                current = None
                continue
            targets, _, rest = rule.groups()
            inline = ""
            if ";" in rest:
                rest, inline = rest.split(";", 1)
            target_var = _ASSIGN.match(rest.strip())
            if target_var:  # target: VAR = value (a target-specific variable)
                self._assign(*target_var.groups())
                current = None
                continue
            prereqs = rest.split("|")[0].split()
            current = [inline.strip()] if inline.strip() else []
            for target in targets.split():
                if target == ".ONESHELL":
                    self.one_shell = True
                old = self.rules.get(target)
                self.rules[target] = ((old[0] if old else []) + prereqs, current)
                if target not in self.order:
                    self.order.append(target)
                if not self.default_goal and not target.startswith(".") and "%" not in target:
                    self.default_goal = target

    def _assign(self, name: str, op: str, value: str) -> None:
        for m in re.finditer(r"\$[({]shell\s+", value):
            end = _close(value, m.start() + 1)
            self.shell_calls.append(value[m.end() : end - 1])
        if name == ".DEFAULT_GOAL":
            self.default_goal = value.strip()
        elif name == ".RECIPEPREFIX" and value:
            self.recipe_prefix = value[0]
        elif op == "+=" and name in self.variables:
            self.variables[name] += " " + value
        elif op == "?=":
            self.variables.setdefault(name, value)
        elif op == "!=":
            self.shell_calls.append(value)
            self.variables[name] = UNKNOWN
        else:
            self.variables[name] = value

    def goals_run(self, goals: list[str]) -> list[str] | None:
        """The targets whose recipes run for `goals` (prerequisites first), or None when a
        goal has no rule of its own (every recipe is then judged)."""
        out: list[str] = []
        seen: set[str] = set()

        def visit(target: str, depth: int) -> bool:
            if target in seen or depth > 50:
                return True
            seen.add(target)
            rule = self.rules.get(target)
            if rule is None:
                return depth > 0  # a prerequisite may be a plain file
            for prereq in rule[0]:
                visit(prereq, depth + 1)
            out.append(target)
            return True

        for goal in goals or [self.default_goal]:
            if not goal or not visit(goal, 0):
                return None
        return out

    def commands(self, goals: list[str], environ: Callable[[str], str | None]) -> list[str]:
        """The shell command lines make would run for `goals` (every recipe when unsure)."""
        targets = self.goals_run(goals)
        if targets is None:
            targets = self.order
        out = [self.expand(c, "", environ) for c in self.shell_calls]
        for target in targets:
            prereqs, recipe = self.rules[target]
            lines = [self.expand(line, target, environ, prereqs) for line in recipe if line.strip()]
            lines = [re.sub(r"^[@+\-\s]+", "", line) for line in lines]
            if self.one_shell:
                out.append("\n".join(lines))
            else:
                out.extend(lines)
        return [line for line in out if line.strip()]

    def expand(
        self,
        text: str,
        target: str,
        environ: Callable[[str], str | None],
        prereqs: list[str] | None = None,
        depth: int = 0,
    ) -> str:
        """`text` with make's variables expanded; ``$$`` becomes ``$`` for the shell."""
        prereqs = prereqs or []
        automatic = {
            "@": target,
            "<": prereqs[0] if prereqs else "",
            "^": " ".join(prereqs),
            "+": " ".join(prereqs),
            "?": " ".join(prereqs),
            "*": target.rsplit(".", 1)[0],
            "|": "",
        }
        out, i = [], 0
        while i < len(text):
            c = text[i]
            if c != "$" or i + 1 >= len(text):
                out.append(c)
                i += 1
                continue
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt in "({":
                end = _close(text, i + 1)
                body = text[i + 2 : end - 1]
                i = end
            else:
                body = nxt
                i += 2
            out.append(self._value(body, target, environ, prereqs, automatic, depth))
        return "".join(out)

    def _value(
        self,
        body: str,
        target: str,
        environ: Callable[[str], str | None],
        prereqs: list[str],
        automatic: Mapping[str, str],
        depth: int,
    ) -> str:
        if body in automatic:
            return automatic[body]
        if body[:1] in automatic and body[1:] in ("D", "F"):
            return automatic[body[0]]
        if depth > 10:
            return UNKNOWN
        if body.startswith("shell "):
            return UNKNOWN
        if body in ("MAKE", "MAKE_COMMAND"):
            return "make"
        if body == "CURDIR":
            return "."
        if re.match(
            r"(subst|patsubst|wildcard|notdir|dir|basename|addprefix|addsuffix|abspath"
            r"|realpath|filter|filter-out|sort|word|firstword|lastword|strip|call|foreach"
            r"|if|or|and|eval|origin|value|info|warning|error|join) ",
            body,
        ):
            func, _, args = body.partition(" ")
            if func in ("abspath", "realpath", "strip", "firstword", "sort", "dir", "lastword"):
                return self.expand(args, target, environ, prereqs, depth + 1)
            return UNKNOWN
        if ":" in body and "=" in body:  # $(VAR:.c=.o)
            return UNKNOWN
        if body in self.variables:
            return self.expand(self.variables[body], target, environ, prereqs, depth + 1)
        value = environ(body)
        return value if value is not None else UNKNOWN


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash-newline continuations joined."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _close(text: str, i: int) -> int:
    """Index just after the bracket matching the one at `text[i]`."""
    opener = text[i]
    closer = ")" if opener == "(" else "}"
    depth, j = 0, i
    while j < len(text):
        if text[j] == opener:
            depth += 1
        elif text[j] == closer:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return len(text)


_JUST_RECIPE = re.compile(r"^@?([A-Za-z_][\w-]*)((?:\s+[^:=]*?)?)\s*:(?!=)\s*(.*)$")
_JUST_VARIABLE = re.compile(r"^(?:export\s+)?([A-Za-z_][\w-]*)\s*:=\s*(.*)$")


def just_commands(text: str, goals: list[str], environ: Callable[[str], str | None]) -> list[str]:
    """The command lines `just` would run for `goals` (the first recipe when none), their
    dependencies first; every recipe when a goal is not found. ``{{var}}`` interpolations of
    string variables are followed, others are `UNKNOWN`."""
    variables: dict[str, str] = {}
    recipes: dict[str, tuple[list[str], list[str]]] = {}
    order: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines()[:_MAX_LINES]:
        if line[:1] in (" ", "\t") and current is not None:
            if line.strip():
                current.append(line.strip())
            continue
        stripped = line.split("#", 1)[0].strip() if not line.startswith("#!") else ""
        current = None
        variable = _JUST_VARIABLE.match(stripped)
        if variable:
            value = variable.group(2).strip()
            literal = re.fullmatch(r"(['\"])(.*)\1", value)
            variables[variable.group(1)] = literal.group(2) if literal else UNKNOWN
            continue
        recipe = _JUST_RECIPE.match(stripped)
        if recipe and not stripped.startswith(("set ", "alias ", "import ", "mod ")):
            current = []
            recipes[recipe.group(1)] = (recipe.group(3).split(), current)
            order.append(recipe.group(1))
    wanted = [g for g in goals if g in recipes] if goals else order[:1]
    if goals and len(wanted) != len(goals):
        wanted = order  # a goal not found: judge every recipe
    out: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in recipes:
            return
        seen.add(name)
        deps, body = recipes[name]
        for dep in deps:
            visit(dep)
        for line in body:
            if line.startswith("#!"):
                return  # a script in another language: the rest is its text
            expanded = re.sub(
                r"\{\{\s*([\w-]+)\s*\}\}", lambda m: variables.get(m.group(1), UNKNOWN), line
            )
            out.append(re.sub(r"^[@-]+", "", expanded))

    for name in wanted:
        visit(name)
    return out
