"""The execution trace (L3 memory): one Markdown file per learned goal.

A trace is YAML front matter (statistics and provenance) followed by a body with
`## Execution Steps`, one `### Step N: <summary>` section per tool call. Each step's
exact input sits in a fenced JSON block, so `parse(render(trace)) == trace`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import field, fields
from typing import Any, Literal, get_args

from llmos._internal.errors import TraceFormatError
from llmos._internal.frozen import frozen
from llmos._internal.memory.goal_form import ValueKind, goal_signature
from llmos._internal.memory.template import Alias, Slot, Template
from llmos._internal.text import one_line
from llmos._internal.usage import now_iso
from llmos._internal.yaml_cache import load_yaml_file
from llmos._internal.yaml_text import YAMLError, dump_yaml, front_matter_span, load_yaml

# 2: slots and aliases in the front matter, preconditions and file modes in the checks, the
# signature from the canonical goal. Version 1 files still load (no slots, no aliases).
SCHEMA_VERSION = 2
_READABLE_VERSIONS = (1, 2)
Outcome = Literal["ok", "error"]

_STEP_HEADING = re.compile(r"^### Step (\d+): (.*)$")
_FIELD_LINE = re.compile(r"^- \*\*(Tool|Type|Outcome|Agent|Result|Checks):\*\* ?(.*)$")
_STEP_TYPE = re.compile(
    r"^[a-z][a-z-]*$"
)  # a governance step type (llmos/_internal/governance/kinds.py)


@frozen
class TraceStep:
    """One tool call, as the agent made it.

    `checks` holds what replay can verify: `exit_code` for Bash, the `file_sha256` and
    `mode` of a file a step wrote, and the step's preconditions: `before` (and `after`), the
    state of each file it touched (`sha256:<hex>`, `absent`, `dir` or `large`) by its path.
    """

    tool: str
    input: dict[str, Any]
    outcome: Outcome = "ok"
    summary: str = ""
    result: str = ""
    agent: str | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    step_type: str = ""  # read, write, verify... ("" in traces older than governance)

    def __post_init__(self) -> None:
        # Summary and agent live on one Markdown line each, so keep them one-line here:
        # that is what makes parse(render(trace)) == trace hold for every trace.
        object.__setattr__(self, "summary", one_line(self.summary) or default_title(self))
        object.__setattr__(self, "agent", one_line(self.agent) if self.agent else None)


@frozen
class Trace:
    """One learned goal: the tool calls that did it, and how it has fared since."""

    goal_text: str
    steps: tuple[TraceStep, ...]
    goal_signature: str = ""
    schema_version: int = SCHEMA_VERSION
    success_rating: float = 0.5  # success_rating(1, 0): one successful run
    usage_count: int = 1
    success_count: int = 1
    failure_count: int = 0
    created_at: str = field(default_factory=now_iso)
    last_used: str = field(default_factory=now_iso)
    estimated_cost_usd: float = 0.0
    estimated_time_secs: float = 0.0
    mode: str = "learner"
    model: str | None = None
    tools_used: tuple[str, ...] = ()
    project: str = "default"
    result: str = ""
    slots: tuple[
        Slot, ...
    ] = ()  # the goal's values its steps use (llmos/_internal/memory/template.py)
    aliases: tuple[Alias, ...] = ()  # other wordings learned to mean the same
    scores: dict[str, float] = field(default_factory=dict)  # its run's evaluators' (governance)

    def __post_init__(self) -> None:
        if not self.goal_signature:
            object.__setattr__(self, "goal_signature", goal_signature(self.goal_text))
        if not self.tools_used:
            tools = tuple(dict.fromkeys(step.tool for step in self.steps))
            object.__setattr__(self, "tools_used", tools)

    @property
    def template(self) -> Template:
        return Template.of(self.goal_text, self.slots, steps_text=self._steps_text())

    def alias_templates(self) -> list[Template]:
        text = self._steps_text()
        return [Template.of(a.goal, self.slots, a.values, steps_text=text) for a in self.aliases]

    def _steps_text(self) -> str:
        """What the steps do, as text: where the goal's names are looked for."""
        return json.dumps([step.input for step in self.steps], ensure_ascii=False)

    @property
    def front_matter(self) -> dict[str, Any]:
        meta = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _BODY_FIELDS}
        meta["tools_used"] = list(self.tools_used)
        meta["slots"] = [{"kind": s.kind, "value": s.value} for s in self.slots]
        meta["aliases"] = [{"goal": a.goal, "values": list(a.values)} for a in self.aliases]
        if not self.slots:
            del meta["slots"]
        if not self.aliases:
            del meta["aliases"]
        if self.scores:
            meta["scores"] = dict(self.scores)
        else:
            del meta["scores"]
        return meta


_BODY_FIELDS = {"steps", "result"}


def default_title(step: TraceStep) -> str:
    """A heading for a step without a summary: the tool and its main argument."""
    for key in ("description", "command", "file_path", "notebook_path", "pattern", "path"):
        value = step.input.get(key)
        if isinstance(value, str) and value:
            return one_line(f"{step.tool} {value}", 100)
    return one_line(step.tool) or "step"


# Rendering -----------------------------------------------------------------------------------
def render(trace: Trace) -> str:
    meta = front_matter_yaml(trace.front_matter)
    lines = ["---", meta.rstrip("\n"), "---", "", f"# {one_line(trace.goal_text, 200)}", ""]
    lines += ["## Execution Steps", ""]
    for number, step in enumerate(trace.steps, start=1):
        lines.append(f"### Step {number}: {step.summary}")
        lines.append("")
        lines.append(f"- **Tool:** {step.tool}")
        if step.step_type:
            lines.append(f"- **Type:** {step.step_type}")
        lines.append(f"- **Outcome:** {step.outcome}")
        if step.agent is not None:
            lines.append(f"- **Agent:** {step.agent}")
        if step.result:
            lines.append(f"- **Result:** {_json_line(step.result)}")
        if step.checks:
            lines.append(f"- **Checks:** {_json_line(step.checks)}")
        lines += ["", "```json", json.dumps(step.input, indent=2, ensure_ascii=False), "```", ""]
    if trace.result:
        lines += ["## Result", "", "```json", _json_line(trace.result), "```", ""]
    return "\n".join(lines)


def front_matter_yaml(data: dict[str, Any]) -> str:
    """A trace's front matter as YAML that reads back exactly as `data`."""
    text = dump_yaml(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    # PyYAML writes some line separators (U+0085, U+2028...) raw, and they read back as line
    # breaks; escaping everything non-ASCII is less readable but always exact.
    if load_yaml(text) != data:
        text = dump_yaml(data, sort_keys=False, allow_unicode=False, default_flow_style=False)
    return text


def _json_line(value: Any) -> str:
    # JSON escapes line breaks, so any value fits on one line and reads back exactly.
    return json.dumps(value, ensure_ascii=False)


# Parsing -------------------------------------------------------------------------------------
def parse(text: str, *, source: str | None = None) -> Trace:
    """The trace in `text` (the file `source`: its front matter may be read already parsed,
    llmos/_internal/yaml_cache.py). TraceFormatError saying what is wrong."""
    span = front_matter_span(text)
    if span is None:
        raise TraceFormatError("no YAML front matter", path=source)
    yaml_start, yaml_end, body_at = span
    head = text[yaml_start:yaml_end]
    try:
        meta = load_yaml_file(head, source) if source else load_yaml(head)
    except YAMLError as exc:
        raise TraceFormatError(f"front matter is not valid YAML ({exc})", path=source) from exc
    if not meta or not isinstance(meta, dict):
        raise TraceFormatError("no YAML front matter", path=source)
    version = meta.get("schema_version")
    if version not in _READABLE_VERSIONS:
        raise TraceFormatError(f"unsupported schema_version {version!r}", path=source)
    steps, result = _parse_body(text, body_at, source)
    missing = sorted({"goal_text", "goal_signature"} - set(meta))
    if missing:
        raise TraceFormatError(f"front matter lacks {', '.join(missing)}", path=source)
    fields_: dict[str, Any] = {}
    for name, kind in _FRONT_MATTER_TYPES.items():
        if name not in meta:
            continue
        value = meta[name]
        try:
            fields_[name] = kind(value) if value is not None or name != "model" else None
        except (TypeError, ValueError) as exc:
            raise TraceFormatError(
                f"front matter {name}: bad value {value!r}", path=source
            ) from exc
    # The signature is derived from the goal, never trusted from the file: a hand-edited
    # trace cannot claim another goal's identity.
    fields_["goal_signature"] = goal_signature(fields_["goal_text"])
    fields_["schema_version"] = SCHEMA_VERSION
    slots = _slots(meta.get("slots"), fields_["goal_text"], source)
    aliases = _aliases(meta.get("aliases"), len(slots), source)
    fields_["slots"], fields_["aliases"] = _named_slots(slots, aliases, fields_["goal_text"])
    return Trace(steps=tuple(steps), result=result, **fields_)


def _slots(raw: Any, goal: str, source: str | None) -> tuple[Slot, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TraceFormatError("front matter slots: expected a list", path=source)
    slots = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise TraceFormatError(f"front matter slots: bad slot {item!r}", path=source)
        if item.get("kind") not in get_args(ValueKind):
            raise TraceFormatError(f"front matter slots: unknown kind in {item!r}", path=source)
        slots.append(Slot(item["kind"], item["value"]))
    return tuple(slots)


def _named_slots(
    slots: tuple[Slot, ...], aliases: tuple[Alias, ...], goal: str
) -> tuple[tuple[Slot, ...], tuple[Alias, ...]]:
    """Only the slots the goal names can be bound: a goal edited by hand that no longer
    names one leaves that value fixed (the aliases lose it too)."""
    named = {s for s in Template.of(goal, slots).slot_at if s is not None}
    if len(named) == len(slots):
        return slots, aliases
    keep = [i for i in range(len(slots)) if i in named]
    trimmed = tuple(
        Alias(a.goal, tuple(a.values[i] if i < len(a.values) else None for i in keep))
        for a in aliases
    )
    return tuple(slots[i] for i in keep), trimmed


def _aliases(raw: Any, slot_count: int, source: str | None) -> tuple[Alias, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TraceFormatError("front matter aliases: expected a list", path=source)
    aliases = []
    for item in raw:
        values = item.get("values", []) if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("goal"), str)
            or not isinstance(values, list)
            or len(values) > slot_count
            or not all(v is None or isinstance(v, str) for v in values)
        ):
            raise TraceFormatError(f"front matter aliases: bad alias {item!r}", path=source)
        aliases.append(Alias(item["goal"], tuple(values)))
    return tuple(aliases)


def _scores(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise TypeError("expected a mapping of names to numbers")
    return {k: float(v) for k, v in value.items()}


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError("expected a list")
    return tuple(str(item) for item in value)


# How each front-matter field is read back; a value that does not fit is a format error.
_FRONT_MATTER_TYPES: dict[str, Callable[[Any], Any]] = {
    "goal_text": str,
    "goal_signature": str,
    "schema_version": int,
    "success_rating": float,
    "usage_count": int,
    "success_count": int,
    "failure_count": int,
    "created_at": str,
    "last_used": str,
    "estimated_cost_usd": float,
    "estimated_time_secs": float,
    "mode": str,
    "model": str,
    "tools_used": _tuple_of_str,
    "project": str,
    "scores": _scores,
}


_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"\s*")


class _Lines:
    """The body's lines, read by position: a step's input can be a hundred megabytes on one
    line, so lines are sliced out one at a time and a fenced block is found, not split."""

    def __init__(self, text: str, start: int = 0) -> None:
        self.text, self.pos = text, start

    def more(self) -> bool:
        return self.pos < len(self.text)

    def peek(self) -> str:
        end = self.text.find("\n", self.pos)
        return self.text[self.pos : end if end >= 0 else len(self.text)]

    def skip(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = end + 1 if end >= 0 else len(self.text)

    def json(self, source: str | None, where: str) -> Any:
        """The JSON value in the next ``` block, decoded in place (no copy of the block)."""
        start, end = self.fence(source, where)
        at = _WHITESPACE.match(self.text, start).end()  # type: ignore[union-attr]
        try:
            value, stop = _DECODER.raw_decode(self.text, at)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"{where}: invalid JSON ({exc.msg})", path=source) from exc
        if stop > end or self.text[stop:end].strip():
            raise TraceFormatError(f"{where}: invalid JSON (extra data)", path=source)
        return value

    def fence(self, source: str | None, where: str) -> tuple[int, int]:
        """Where the content of the next ``` block is; it starts on this line or a later
        one."""
        while self.more() and not self.text.startswith("```", self.pos):
            self.skip()
        if not self.more():
            raise TraceFormatError(f"{where}: missing its ```json block", path=source)
        self.skip()
        start = self.pos
        end = start - 1  # the newline before the closing ``` (the block may be empty)
        while True:
            end = self.text.find("\n```", end)
            if end < 0:
                raise TraceFormatError(f"{where}: unterminated ``` block", path=source)
            after = end + 4
            if after == len(self.text) or self.text[after] == "\n":
                break
            end = after
        if end < start:  # an empty block: the closing line right after the opening one
            self.pos = start + 4
            return start, start
        self.pos = min(after + 1, len(self.text))
        return start, end


def _parse_body(text: str, start: int, source: str | None) -> tuple[list[TraceStep], str]:
    lines = _Lines(text, start)
    steps: list[TraceStep] = []
    result = ""
    while lines.more():
        line = lines.peek()
        heading = _STEP_HEADING.match(line) if line.startswith("### ") else None
        if heading:
            lines.skip()
            step = _parse_step(lines, heading.group(2), source)
            if int(heading.group(1)) != len(steps) + 1:
                raise TraceFormatError(f"step {heading.group(1)} is out of order", path=source)
            steps.append(step)
            continue
        lines.skip()
        if line == "## Result":
            result = lines.json(source, "the result")
    return steps, result


def _parse_step(lines: _Lines, title: str, source: str | None) -> TraceStep:
    values: dict[str, str] = {}
    while lines.more() and not lines.text.startswith("```", lines.pos):
        line = lines.peek()
        match = _FIELD_LINE.match(line)
        if match:
            values[match.group(1)] = match.group(2)
        elif line.startswith("#"):
            break
        lines.skip()
    where = f"step '{title}'"
    if "Tool" not in values:
        raise TraceFormatError(f"{where} names no tool", path=source)
    tool_input = lines.json(source, where)
    if not isinstance(tool_input, dict):
        raise TraceFormatError(f"{where}: the input must be a JSON object", path=source)
    outcome = values.get("Outcome", "ok")
    if outcome not in ("ok", "error"):
        raise TraceFormatError(f"{where}: outcome must be ok or error", path=source)
    checks = {}
    if "Checks" in values:
        checks = _checks(_loads(values["Checks"], source, where), source, where)
    step_type = values.get("Type", "")
    if step_type and not _STEP_TYPE.match(step_type):
        raise TraceFormatError(f"{where}: Type must be a step type such as verify", path=source)
    return TraceStep(
        tool=values["Tool"],
        input=tool_input,
        outcome=outcome,  # type: ignore[arg-type]  # checked just above
        summary=title,
        result=_loads(values["Result"], source, where) if "Result" in values else "",
        agent=values.get("Agent"),
        checks=checks,
        step_type=step_type,
    )


_OCTAL_MODE = re.compile(r"^[0-7]{3,4}$")
_STATE = re.compile(r"^(absent|dir|large|sha256:[0-9a-f]{64})$")


def _checks(raw: Any, source: str | None, where: str) -> dict[str, Any]:
    """A step's checks, each of the type replay relies on: a malformed one is refused here,
    with the file and the field named, not met halfway through a replay."""
    if not isinstance(raw, dict):
        raise TraceFormatError(f"{where}: Checks must be a JSON object", path=source)

    def bad(name: str, expected: str) -> TraceFormatError:
        return TraceFormatError(
            f"{where}: check {name} must be {expected}, not {raw[name]!r}", path=source
        )

    if "exit_code" in raw and (type(raw["exit_code"]) is not int):
        raise bad("exit_code", "an integer")
    for name in ("file_sha256", "output_sha256", "tool_version"):
        if name in raw and not isinstance(raw[name], str):
            raise bad(name, "a string")
    if "mode" in raw and not (isinstance(raw["mode"], str) and _OCTAL_MODE.match(raw["mode"])):
        raise bad("mode", 'an octal file mode such as "644"')
    for name in ("before", "after"):
        states = raw.get(name)
        if states is not None and not (
            isinstance(states, dict)
            and all(isinstance(v, str) and _STATE.match(v) for v in states.values())
        ):
            raise bad(name, "a map of paths to file states")
    return raw


def _loads(text: str, source: str | None, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(f"{where}: invalid JSON ({exc.msg})", path=source) from exc
