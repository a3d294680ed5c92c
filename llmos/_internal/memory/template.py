"""Parameterised traces: the values of a goal that its steps use become typed slots.

When a goal is learned, each value in it (a file name, a path, a number, a version, a date,
a quoted string, an identifier, a name: llmos/_internal/memory/goal_form.py) that also occurs in the
steps that replay runs becomes a *slot*, and the goal with those places marked is its
*template*: "copy {1} to {2}" for "copy notes.txt to backup.txt". A later goal with the same
template binds its own values to the slots, and replay puts them wherever the old ones stood,
all at once (so swaps work): "copy backup.txt to notes.txt" replays `cp backup.txt notes.txt`.

A value becomes a slot only when substituting it is sure to mean the same procedure:
- it occurs in a replayed step (Write, Edit, Bash, a plugin tool), always as a whole token
  (never inside another word, `5` in `2.5`, `notes.txt` in `my-notes.txt`);
- the model never *looked* at it before writing something: a value in a Read, Grep or Glob,
  or in a command whose output the model saw before it wrote a file, stays literal, since
  what was written may depend on what was seen;
- a number does not occur in written content (`3` in "line 3" is data, not a parameter),
  and is not 0 or 1 (too common to be a parameter);
- a file name's stem does not name other files in the steps (`data.json` beside `data.csv`
  would be derived from it, and would not follow a substitution).
Every other value of the goal stays literal: a later goal must have the same one.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from llmos._internal.frozen import frozen
from llmos._internal.memory.goal_form import Token, ValueKind, goal_tokens, shape
from llmos._internal.memory.step_kinds import (
    CONTENT_FIELDS,
    PROSE_FIELDS,
    READ_ONLY_TOOLS,
    REPLAYED_TOOLS,
    strings_of,
)

# Numbers too common to be anything's parameter.
_COMMON_NUMBERS = frozenset({"0", "1"})
_BEFORE = r"(?<![A-Za-z0-9_.\-])"
_AFTER = r"(?![A-Za-z0-9_\-]|\.[A-Za-z0-9_])"


@frozen
class Slot:
    """A value of the learned goal that its steps use, which a later goal's own value replaces."""

    kind: ValueKind
    value: str  # the value the trace was learned with


@frozen
class Alias:
    """Another wording of a trace's goal; `values` are its values for the trace's slots, in
    slot order (None: the wording does not name that slot, so the learned value stays)."""

    goal: str
    values: tuple[str | None, ...] = ()


def value_pattern(values: Iterable[str]) -> re.Pattern[str]:
    """Whole-token occurrences of any of `values`, longest first."""
    return _value_pattern(tuple(sorted(set(values), key=lambda v: (-len(v), v))))


@functools.lru_cache(maxsize=256)  # indexing a trace asks for its slots' pattern twice
def _value_pattern(ordered: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(_BEFORE + "(" + "|".join(re.escape(v) for v in ordered) + ")" + _AFTER)


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def find_whole(text: str, value: str) -> int:
    """Where `value` first occurs in `text` as a whole token (as `value_pattern` matches:
    not inside a longer word, file name or flag), or -1. No regex to compile: indexing
    asks this of every slot of every trace."""
    at = text.find(value)
    while at != -1 and value:
        before = text[at - 1] if at else ""
        end = at + len(value)
        after, next_after = text[end : end + 1], text[end + 1 : end + 2]
        inside = before in _TOKEN_CHARS or before in (".", "-")
        inside = inside or after in _TOKEN_CHARS or after == "-"
        if not inside and not (after == "." and next_after and next_after in _TOKEN_CHARS):
            return at
        at = text.find(value, at + 1)
    return -1


@frozen
class Template:
    """A wording of a goal with the places its slots fill marked."""

    tokens: tuple[Token, ...]
    slot_at: tuple[int | None, ...]  # for each token, the slot it fills, or None

    @classmethod
    def of(
        cls,
        goal: str,
        slots: Sequence[Slot],
        values: Sequence[str | None] | None = None,
        *,
        steps_text: str | None = None,
    ) -> Template:
        """The template of `goal`, whose values for `slots` are `values` (default: the
        slots' own). Given what the steps say (`steps_text`), a name they never use is only
        a word of the goal, whose case does not matter ("a Python script" is "a python
        script"); a name they use keeps its case (`git checkout Staging`)."""
        wanted = list(values) if values is not None else [s.value for s in slots]
        tokens = goal_tokens(goal)
        if steps_text is not None:
            tokens = tuple(_as_word(t, steps_text) for t in tokens)
        slot_at: list[int | None] = []
        for token in tokens:
            found = None
            for index, slot in enumerate(slots):
                value = wanted[index] if index < len(wanted) else None
                if token.kind == slot.kind and token.value == value:
                    found = index
                    break
            slot_at.append(found)
        return cls(tokens, tuple(slot_at))

    @property
    def key(self) -> str:
        """What the index files this template under: its literals as they are, each slot as
        its kind. A goal looks up the keys it could have (`lookup_keys`)."""
        return " ".join(
            f"<{t.kind}>" if s is not None else t.text
            for t, s in zip(self.tokens, self.slot_at, strict=True)
        )

    def render(self) -> str:
        """`copy {1} to {2}`: the tokens with each slot's number (1-based)."""
        return " ".join(
            t.text if s is None else "{" + str(s + 1) + "}"
            for t, s in zip(self.tokens, self.slot_at, strict=True)
        )

    def bind(self, tokens: Sequence[Token]) -> dict[int, str] | None:
        """The values `tokens` give the slots, or None if they do not fit this template:
        a literal differs, a value is of another kind, or one slot gets two values."""
        if len(tokens) != len(self.tokens):
            return None
        bound: dict[int, str] = {}
        for mine, theirs, slot in zip(self.tokens, tokens, self.slot_at, strict=True):
            if mine.kind is None and theirs.kind == "name":  # a name as a word: any case
                if mine.text != theirs.text.lower():
                    return None
            elif mine.kind != theirs.kind:
                return None
            elif slot is None:
                if mine.text != theirs.text:
                    return None
            elif bound.setdefault(slot, theirs.value) != theirs.value:
                return None
        return bound

    def to_json(self) -> str:
        rows = zip(self.tokens, self.slot_at, strict=True)
        return json.dumps([[t.text, t.kind, t.value, s] for t, s in rows])

    @classmethod
    def from_json(cls, text: str) -> Template:
        rows = json.loads(text)
        return cls(
            tuple(Token(text, kind, value) for text, kind, value, _ in rows),
            tuple(row[3] for row in rows),
        )


def _as_word(token: Token, steps_text: str) -> Token:
    if token.kind != "name" or find_whole(steps_text, token.value) != -1:
        return token
    return Token(token.text.lower())


# Values a goal may have in slots, at most: a goal with more looks up by its shape alone.
_MAX_LOOKUP_VALUES = 6


def lookup_keys(tokens: Sequence[Token]) -> list[str]:
    """The keys of every template `tokens` could bind: each of its values either a slot
    (its kind) or a literal (itself). A handful of B-tree lookups, whatever the library's
    size; a goal with very many values looks up its shape (every value a slot) and the
    goal as it is, and templates with some literal values among many are not found."""
    places = [i for i, t in enumerate(tokens) if t.kind is not None]
    if len(places) > _MAX_LOOKUP_VALUES:
        folded = " ".join(t.text.lower() if t.kind == "name" else t.text for t in tokens)
        return list(dict.fromkeys([shape(tokens), " ".join(t.text for t in tokens), folded]))
    # Each value is a slot or itself; a name may also be a plain word (any case).
    choices = [
        (f"<{t.kind}>", t.text, t.text.lower())
        if t.kind == "name"
        else (f"<{t.kind}>", t.text)
        if t.kind is not None
        else (t.text,)
        for t in tokens
    ]
    return list(dict.fromkeys(" ".join(words) for words in itertools.product(*choices)))


# Learning slots ------------------------------------------------------------------------------
def learn_slots(goal: str, steps: Sequence[Any]) -> tuple[Slot, ...]:
    """The slots of a goal learned with `steps` (TraceStep-like: tool, input, outcome,
    result), in the order the goal names them."""
    candidates: dict[tuple[str, str], Slot] = {}
    for token in goal_tokens(goal):
        if token.kind is not None and token.value and (token.kind, token.value) not in candidates:
            candidates[(token.kind, token.value)] = Slot(token.kind, token.value)
    if not candidates:
        return ()
    replayed, seen, content, everything = _step_texts(steps)
    goal_values = {slot.value for slot in candidates.values()}
    slots = []
    for slot in candidates.values():
        if slot.kind == "number" and slot.value in _COMMON_NUMBERS:
            continue
        whole = value_pattern([slot.value])
        if not any(whole.search(text) for text in replayed):
            continue  # the steps do not use it: it stays literal
        if any(text.count(slot.value) != len(whole.findall(text)) for text in everything):
            continue  # somewhere it is part of another word
        if any(whole.search(text) for text in seen):
            continue  # the model looked at it before writing something
        if slot.kind == "number" and any(whole.search(text) for text in content):
            continue
        if slot.kind == "file" and _derived_names(slot.value, everything, goal_values):
            continue
        slots.append(slot)
    return tuple(slots)


def _step_texts(steps: Sequence[Any]) -> tuple[list[str], list[str], list[str], list[str]]:
    """The strings of the steps: of replayed steps, of steps whose output the model saw
    before it wrote a file, of written content, and all of them."""
    replayed: list[str] = []
    seen: list[str] = []
    content: list[str] = []
    everything: list[str] = []
    writes_after = _writes_after(steps)
    for index, step in enumerate(steps):
        texts = [(f, t) for f, t in strings_of(step.input) if f not in PROSE_FIELDS]
        everything += [t for _, t in texts]
        if step.outcome != "ok":
            continue
        if step.tool in READ_ONLY_TOOLS or (
            step.tool == "Bash" and _showed_output(step) and writes_after[index]
        ):
            seen += [t for _, t in texts]
        if step.tool in REPLAYED_TOOLS or step.tool.startswith("mcp__llmos_"):
            replayed += [t for _, t in texts]
            content += [t for f, t in texts if f in CONTENT_FIELDS]
    return replayed, seen, content, everything


def _writes_after(steps: Sequence[Any]) -> list[bool]:
    later = False
    flags = [False] * len(steps)
    for index in range(len(steps) - 1, -1, -1):
        flags[index] = later
        if steps[index].tool in REPLAYED_TOOLS - {"Bash"} and steps[index].outcome == "ok":
            later = True
    return flags


def _showed_output(step: Any) -> bool:
    result = str(getattr(step, "result", "") or "")
    return bool(result) and result != "(no output)"


def _derived_names(value: str, texts: Sequence[str], goal_values: set[str]) -> bool:
    stem, dot, _ = value.rpartition(".")
    if not dot or len(stem) < 3 or stem.startswith("."):
        return False
    sibling = re.compile(_BEFORE + re.escape(stem) + r"\.[A-Za-z0-9]{1,10}" + _AFTER)
    names = {name for text in texts for name in sibling.findall(text)}
    return bool(names - goal_values - {value})


# Comparing procedures ------------------------------------------------------------------------
def procedure_key(steps: Sequence[Any], slots: Sequence[Slot]) -> str:
    """What a run did, independent of the values its slots took: the replayed steps that
    succeeded, each slot's value replaced by its rank in `slot_order`. Two runs with the same
    key followed the same procedure (so their goals are wordings of one trace)."""
    actions = _actions(steps)
    order = slot_order(actions, slots)
    pattern = value_pattern([s.value for s in slots]) if slots else None
    number = {slots[index].value: rank for rank, index in enumerate(order)}

    def abstract(value: Any) -> Any:
        if isinstance(value, str):
            if pattern is None:
                return value
            return pattern.sub(lambda m: "\x00" + str(number[m.group(1)]) + "\x00", value)
        if isinstance(value, dict):
            return {k: abstract(v) for k, v in value.items() if k not in PROSE_FIELDS}
        if isinstance(value, list | tuple):
            return [abstract(v) for v in value]
        return value

    blob = json.dumps([[t, abstract(i)] for t, i in actions], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def slot_order(actions_or_steps: Sequence[Any], slots: Sequence[Slot]) -> list[int]:
    """The slots' indexes in the order the steps first use their values: how two wordings
    of one procedure (which may name the values in another order) pair their slots."""
    actions = (
        _actions(actions_or_steps)
        if actions_or_steps and not isinstance(actions_or_steps[0], list)
        else actions_or_steps
    )
    text = json.dumps([a[1] for a in actions], sort_keys=True, ensure_ascii=False)
    first: dict[int, int] = {}
    for index, slot in enumerate(slots):
        found = find_whole(text, slot.value)
        first[index] = found if found != -1 else len(text) + index
    return sorted(first, key=lambda index: first[index])


def _actions(steps: Sequence[Any]) -> list[list[Any]]:
    return [
        [step.tool, step.input]
        for step in steps
        if step.outcome == "ok" and (step.tool in REPLAYED_TOOLS or step.tool.startswith("mcp__"))
    ]
