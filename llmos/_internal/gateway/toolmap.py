"""Other clients' tool names, mapped onto the kinds of tool llmos's security policy judges.

The policy knows Claude Code's tools (`Bash`, `Write`, `Edit`, `Read`, `Grep`...). Other
agents call theirs `bash`, `execute_command`, `write_file` or `str_replace_based_edit_tool`,
with other input field names. A `ToolRule` says which kind a tool is (and, with `when`, for
which inputs), and how its fields are named in that kind (`fields`: client name -> policy
name); its kind can also be a fixed verdict (`allow`, `ask`, `deny`) for a tool that needs
no analysis. The shipped rules (`DEFAULT_RULES`) cover common names; `gateway.yaml`'s
`tools:` adds to them and overrides them by name. A name may be a glob (`mcp__github__*`).

A tool no rule names is judged by the policy by its own name; one the policy does not know
either follows the gateway's `unknown_tools` (allow, ask or deny).
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen

VERDICTS = ("allow", "ask", "deny")
# The kinds the policy analyses (llmos/_internal/security/engine.py), and those it knows by name.
POLICY_KINDS = frozenset(
    {
        "Bash",
        "Write",
        "Edit",
        "MultiEdit",
        "NotebookEdit",
        "Read",
        "NotebookRead",
        "Grep",
        "Glob",
        "LS",
        "TodoWrite",
        "Agent",
        "Task",
        "WebSearch",
        "WebFetch",
    }
)


@frozen
class ToolRule:
    """How the policy sees one client tool: as a kind of tool it judges, or a fixed verdict."""

    kind: str  # a policy kind (Bash, Write...) or a verdict (allow, ask, deny)
    fields: Mapping[str, str] = field(default_factory=dict)  # client field -> policy field
    when: Mapping[str, Any] = field(default_factory=dict)  # client field -> required value

    def applies(self, tool_input: Mapping[str, Any]) -> bool:
        return all(tool_input.get(key) == value for key, value in self.when.items())

    def translate(self, tool_input: Mapping[str, Any]) -> dict[str, Any]:
        """The input with its fields renamed as the policy names them."""
        out: dict[str, Any] = {}
        for key, value in tool_input.items():
            out[self.fields.get(key, key)] = value
        command = out.get("command")
        if (
            self.kind == "Bash"
            and isinstance(command, list)
            and all(isinstance(part, str) for part in command)
        ):
            out["command"] = shlex.join(command)  # argv-style shells (["bash", "-lc", "..."])
        return out


@frozen
class Mapped:
    """How the policy sees one call: its kind and its input in the policy's field names."""

    kind: str
    input: dict[str, Any]
    rule: ToolRule | None = None  # None: judged under its own name

    @property
    def verdict(self) -> str | None:
        return self.kind if self.kind in VERDICTS else None


_PATH = {"path": "file_path", "file": "file_path", "filename": "file_path"}
_SHELLS = (
    "bash",
    "shell",
    "sh",
    "terminal",
    "run_shell_command",
    "run_terminal_cmd",
    "execute_command",
    "exec_command",
    "run_command",
    "local_shell",
    "execute_bash",
)
_WRITE = {**_PATH, "content": "content", "contents": "content", "text": "content"}
_WRITE |= {"file_text": "content"}
_EDIT = {**_PATH, "old_str": "old_string", "old_text": "old_string"}
_EDIT |= {"new_str": "new_string", "new_text": "new_string"}
_TEXT_EDITOR = (
    ToolRule("Read", _PATH, {"command": "view"}),
    ToolRule("Write", _WRITE, {"command": "create"}),
    ToolRule("Edit", _EDIT),  # str_replace, insert, undo_edit: a change to that file
)
DEFAULT_RULES: dict[str, tuple[ToolRule, ...]] = {
    **{name: (ToolRule("Bash", {"cmd": "command", "script": "command"}),) for name in _SHELLS},
    **{
        name: (ToolRule("Write", _WRITE),)
        for name in ("write_file", "write_to_file", "create_file", "write")
    },
    **{name: (ToolRule("Read", _PATH),) for name in ("read_file", "view_file", "read", "cat")},
    **{
        name: (ToolRule("Edit", _EDIT),)
        for name in ("edit_file", "replace_in_file", "str_replace", "apply_edit", "edit")
    },
    **{
        name: (ToolRule("LS", {"directory": "path", "dir": "path"}),)
        for name in ("list_files", "list_directory", "list_dir", "ls")
    },
    **{
        name: (ToolRule("Grep", {"regex": "pattern", "query": "pattern", "directory": "path"}),)
        for name in ("grep", "search_files", "grep_search")
    },
    **{
        name: (ToolRule("Glob", {"directory": "path"}),)
        for name in ("glob", "find_files", "file_search")
    },
    "str_replace_editor": _TEXT_EDITOR,
    "str_replace_based_edit_tool": _TEXT_EDITOR,
}


class ToolMap:
    def __init__(self, rules: Mapping[str, tuple[ToolRule, ...]], *, unknown: str = "ask") -> None:
        if unknown not in VERDICTS:
            raise UsageError(f"unknown_tools must be one of {', '.join(VERDICTS)}, not {unknown!r}")
        self.unknown = unknown
        self._exact = {name: rules[name] for name in rules if not _is_glob(name)}
        self._globs = [(name, rules[name]) for name in rules if _is_glob(name)]

    def resolve(self, name: str, tool_input: Mapping[str, Any]) -> Mapped:
        rules = self._exact.get(name)
        if rules is None:
            rules = next(
                (r for pattern, r in self._globs if fnmatch.fnmatchcase(name, pattern)), ()
            )
        for rule in rules:
            if rule.applies(tool_input):
                return Mapped(rule.kind, rule.translate(tool_input), rule)
        return Mapped(name, dict(tool_input))


def tool_map(config: Mapping[str, Any] | None, *, unknown: str = "ask", source: str) -> ToolMap:
    """The shipped rules with `config` (gateway.yaml's `tools:`) over them."""
    rules = dict(DEFAULT_RULES)
    for name, raw in (config or {}).items():
        rules[str(name)] = _rules(str(name), raw, source)
    return ToolMap(rules, unknown=unknown)


def _rules(name: str, raw: Any, source: str) -> tuple[ToolRule, ...]:
    where = f"{source}: tools.{name}"
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, str):
            item = {"kind": item}
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected a kind or {{kind, fields, when}}, got {item!r}")
        unknown_keys = set(item) - {"kind", "fields", "when"}
        if unknown_keys:
            raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown_keys))}")
        kind = item.get("kind")
        if kind not in POLICY_KINDS and kind not in VERDICTS:
            known = ", ".join(sorted(POLICY_KINDS))
            raise UsageError(
                f"{where}: unknown kind {kind!r}",
                hint=f"A kind is one of {known}, or allow, ask, deny.",
            )
        fields_ = item.get("fields") or {}
        when = item.get("when") or {}
        if not isinstance(fields_, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields_.items()
        ):
            raise UsageError(f"{where}: fields must map the client's field names to the kind's")
        if not isinstance(when, dict):
            raise UsageError(f"{where}: when must map input fields to values")
        out.append(ToolRule(str(kind), dict(fields_), dict(when)))
    return tuple(out)


def _is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")
