"""The agent file: Markdown with YAML front matter, the body being the agent's system prompt.

    ---
    name: reviewer
    description: Reviews code for bugs and risky changes; reports findings, edits nothing.
    tools: [Read, Glob, Grep]
    model: inherit
    ---
    You are a careful code reviewer...

`name` and `description` are required. `tools` is a list (or a comma-separated string) of
tools the agent may use; left out, it gets Learner's whole tool set. `model` is an alias
(sonnet, opus, haiku), a model id, or `inherit` (the run's model). `max_turns` is optional.
Anything else is an error, so a typo never silently changes what an agent may do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.yaml_text import YAMLError, dump_yaml, load_yaml

# The tools a Learner run (and an agent that names none) may use. Pinned, because the CLI's
# default set is large and changes between versions (scheduling, messaging, workflow tools...).
DEFAULT_TOOLS: tuple[str, ...] = (
    "Bash",
    "Read",
    "Write",
    "Edit",
    "Glob",
    "Grep",
    "NotebookEdit",
    "TodoWrite",
    "Agent",
)
# Learner's tools, plus web access (a step that used WebFetch cannot be replayed, see
# llmos/_internal/replay/plan.py, so such an agent's traces are for reading, not for Follower).
KNOWN_TOOLS: tuple[str, ...] = (*DEFAULT_TOOLS, "WebSearch", "WebFetch")
KNOWN_KEYS = ("name", "description", "tools", "model", "max_turns")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FENCE = "---"


class AgentFormatError(ValueError):
    """An agent file that cannot be used; the message says what is wrong with it."""


@frozen
class AgentSpec:
    """An agent a run can work as or delegate to: read from an agent file or given by a plugin."""

    name: str
    description: str
    prompt: str
    tools: tuple[str, ...] | None = None  # None: Learner's default tool set
    model: str | None = None  # None: inherit the run's model
    max_turns: int | None = None
    path: Path | None = None  # where it was read from (not part of the file)
    source: str = ""  # "workspace", "project NAME", "plugin NAME" (not part of the file)

    @property
    def tool_list(self) -> tuple[str, ...]:
        return DEFAULT_TOOLS if self.tools is None else self.tools

    def summary(self) -> dict[str, Any]:
        """The JSON form `agents list --json` and the planner see."""
        return {
            "name": self.name,
            "description": self.description,
            "tools": list(self.tool_list),
            "model": self.model or "inherit",
            "max_turns": self.max_turns,
            "source": self.source,
            "path": str(self.path) if self.path else None,
        }


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise AgentFormatError(
            f"invalid agent name {name!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def check_tools(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise AgentFormatError("tools must be a list of tool names (or 'A, B, C')")
    unknown = [t for t in value if t not in KNOWN_TOOLS]
    if unknown:
        raise AgentFormatError(
            f"unknown tool(s) {', '.join(unknown)}; known tools: {', '.join(KNOWN_TOOLS)}"
        )
    return tuple(dict.fromkeys(value))


def _check_model(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise AgentFormatError(
            "model must be an alias (sonnet, opus, haiku), a model id or inherit"
        )
    return None if value == "inherit" else value


def _check_max_turns(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AgentFormatError(f"max_turns must be a whole number >= 1, got {value!r}")
    return value


def make_spec(
    *,
    name: str,
    description: str,
    prompt: str,
    tools: Any = None,
    model: Any = None,
    max_turns: Any = None,
    path: Path | None = None,
    source: str = "",
) -> AgentSpec:
    """An `AgentSpec` from loose values (a file, command-line flags, a model's draft)."""
    if not isinstance(description, str) or not description.strip():
        raise AgentFormatError("description is required: one line saying what the agent does")
    if not isinstance(prompt, str) or not prompt.strip():
        raise AgentFormatError(
            "the system prompt (the file's body, after the front matter) is empty"
        )
    return AgentSpec(
        name=check_name(name),
        description=" ".join(description.split()),
        prompt=prompt.strip(),
        tools=check_tools(tools),
        model=_check_model(model),
        max_turns=_check_max_turns(max_turns),
        path=path,
        source=source,
    )


def parse_agent(text: str, *, path: Path | None = None, source: str = "") -> AgentSpec:
    """Read an agent file's text; raise `AgentFormatError` saying what is wrong."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise AgentFormatError("the file must start with YAML front matter between '---' lines")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise AgentFormatError("the front matter has no closing '---' line") from None
    try:
        meta = load_yaml("\n".join(lines[1:end])) or {}
    except YAMLError as exc:
        raise AgentFormatError(f"the front matter is not valid YAML ({exc})") from exc
    if not isinstance(meta, dict):
        raise AgentFormatError("the front matter must be a mapping (name: ..., description: ...)")
    unknown = sorted(str(k) for k in meta if k not in KNOWN_KEYS)
    if unknown:
        raise AgentFormatError(
            f"unknown key(s) {', '.join(unknown)}; known keys: {', '.join(KNOWN_KEYS)}"
        )
    if "name" not in meta:
        raise AgentFormatError("name is required")
    return make_spec(
        name=meta["name"],
        description=meta.get("description", ""),
        prompt="\n".join(lines[end + 1 :]),
        tools=meta.get("tools"),
        model=meta.get("model"),
        max_turns=meta.get("max_turns"),
        path=path,
        source=source,
    )


def render_agent(spec: AgentSpec) -> str:
    """The file text of `spec`; `parse_agent(render_agent(s))` gives `s` back."""
    meta: dict[str, Any] = {"name": spec.name, "description": spec.description}
    if spec.tools is not None:
        meta["tools"] = list(spec.tools)
    meta["model"] = spec.model or "inherit"
    if spec.max_turns is not None:
        meta["max_turns"] = spec.max_turns
    front = dump_yaml(meta, sort_keys=False, allow_unicode=True, default_flow_style=None)
    return f"{_FENCE}\n{front}{_FENCE}\n{spec.prompt.strip()}\n"
