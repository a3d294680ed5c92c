"""Which goals replay which learned traces: a labelled set of goal pairs
(tests/data/goal_pairs.jsonl), each learned with the steps it names (else one command that
uses none of its values) and then asked for:

- `no`: must not replay (word order and direction, symbols, file-name case, values,
  fillers that matter, other words, values that are not slots);
- `replay`: means the same (politeness, punctuation, contractions, "5 percent"), an exact
  match;
- `substitute`: the same procedure with the goal's own values, replayed with them in place
  (a template match), the command as it would run given where the pair says;
- `unsubstitutable`: a value that would change the command's structure: not replayed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.template import find_whole, value_pattern
from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.replay.substitute import Unsubstitutable, bind
from llmos._internal.workspace import Workspace

PAIRS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "goal_pairs.jsonl").read_text().splitlines()
    if line.strip()
]
_NO_VALUES = [["Bash", {"command": "echo done"}]]


def _steps(case: dict[str, Any]) -> tuple[TraceStep, ...]:
    return tuple(
        TraceStep(tool, tool_input, result=rest[0] if rest else "")
        for tool, tool_input, *rest in case.get("steps", _NO_VALUES)
    )


@pytest.mark.parametrize(
    "case", PAIRS, ids=[f"{i}-{c['kind']}-{c['expect']}" for i, c in enumerate(PAIRS)]
)
def test_goal_pair(case: dict[str, Any], tmp_path: Path) -> None:
    with TraceLibrary(Workspace.open(tmp_path / "ws")) as library:
        learned = library.learn(Trace(goal_text=case["learned"], steps=_steps(case)))
        found = library.find(case["asked"])
        expect = case["expect"]
        if expect == "no":
            assert found == [], f"{case['asked']!r} must not replay {case['learned']!r}"
            return
        assert found, f"{case['asked']!r} should match {case['learned']!r}"
        (match,) = found
        if expect == "replay":
            assert match.kind == "exact" and match.values == {}
            return
        assert match.kind == "template"
        if "values" in case:
            assert match.values == case["values"]
        if expect == "unsubstitutable":
            with pytest.raises(Unsubstitutable):
                bind(learned.trace, match.values)
            return
        bound = bind(learned.trace, match.values).trace
        if "command" in case:
            commands = [s.input["command"] for s in bound.steps if s.tool == "Bash"]
            assert commands[-1] == case["command"]


def test_the_set_covers_every_kind_in_numbers() -> None:
    kinds: dict[str, int] = {}
    for case in PAIRS:
        kinds[case["expect"]] = kinds.get(case["expect"], 0) + 1
    assert kinds["no"] >= 80 and kinds["replay"] >= 20 and kinds["substitute"] >= 12


@settings(max_examples=500, deadline=None)
@given(
    st.text(st.sampled_from(list("ab1.-_ /\"'")), max_size=30),
    st.text(st.sampled_from(list("ab1.-_")), min_size=1, max_size=4),
)
def test_find_whole_agrees_with_the_value_pattern(text: str, value: str) -> None:
    """Indexing finds a value as a whole token without compiling a regex per trace: the
    same answer as the pattern substitution uses."""
    found = value_pattern([value]).search(text)
    assert find_whole(text, value) == (found.start() if found else -1)
