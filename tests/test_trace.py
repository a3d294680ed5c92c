"""The trace format: lossless round trip, signatures, and clear errors on corrupt files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmos._internal.errors import TraceFormatError
from llmos._internal.memory.template import Alias, Slot
from llmos._internal.memory.trace import Trace, TraceStep, goal_signature, parse, render
from llmos._internal.memory.trace_store import TraceStore
from llmos._internal.text import normalize_goal

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
identifiers = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)
# The checks replay relies on have types (checked at load); any other key is kept as it is.
_TYPED_CHECKS = {
    "exit_code",
    "file_sha256",
    "output_sha256",
    "tool_version",
    "mode",
    "before",
    "after",
}
states = st.sampled_from(["absent", "dir", "large", "sha256:" + "ab" * 32])
typed_checks = st.fixed_dictionaries(
    {},
    optional={
        "exit_code": st.integers(-255, 255),
        "file_sha256": st.text(),
        "mode": st.sampled_from(["644", "755", "0600"]),
        "before": st.dictionaries(st.text(min_size=1), states, max_size=3),
        "after": st.dictionaries(st.text(min_size=1), states, max_size=3),
    },
)
free_checks = st.dictionaries(
    st.text().filter(lambda k: k not in _TYPED_CHECKS), json_values, max_size=3
)
steps = st.builds(
    TraceStep,
    tool=identifiers,
    input=st.dictionaries(st.text(), json_values, max_size=5),
    outcome=st.sampled_from(["ok", "error"]),
    summary=st.text(),
    result=st.text(),
    agent=st.none() | identifiers,
    checks=st.builds(lambda a, b: {**b, **a}, typed_checks, free_checks),
    step_type=st.sampled_from(["", "verify", "write", "credential-read"]),
)
traces = st.builds(
    Trace,
    goal_text=st.text(min_size=1),
    steps=st.lists(steps, max_size=5).map(tuple),
    success_rating=st.floats(0, 1),
    usage_count=st.integers(0, 10**6),
    success_count=st.integers(0, 10**6),
    failure_count=st.integers(0, 10**6),
    estimated_cost_usd=st.floats(0, 100),
    estimated_time_secs=st.floats(0, 10**4),
    model=st.none() | st.text(),
    project=identifiers,
    result=st.text(),
    scores=st.dictionaries(st.text(min_size=1), st.floats(-1e6, 1e6), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(traces)
def test_parse_render_round_trip(trace: Trace) -> None:
    assert parse(render(trace)) == trace


def test_rendered_trace_reads_as_documented() -> None:
    trace = Trace(
        goal_text="Create hello.py and run it",
        steps=(
            TraceStep("Write", {"file_path": "hello.py", "content": "print('hi')\n"}),
            TraceStep(
                "Bash", {"command": "python3 hello.py"}, result="hi", checks={"exit_code": 0}
            ),
        ),
    )
    text = render(trace)
    assert text.startswith("---\n")
    assert "## Execution Steps" in text
    assert "### Step 1: Write hello.py" in text
    assert "### Step 2: Bash python3 hello.py" in text
    assert "- **Tool:** Bash" in text
    assert "```json" in text
    for key in (
        "schema_version",
        "goal_signature",
        "goal_text",
        "success_rating",
        "usage_count",
        "success_count",
        "failure_count",
        "created_at",
        "last_used",
        "estimated_cost_usd",
        "estimated_time_secs",
        "mode",
        "model",
        "tools_used",
        "project",
    ):
        assert f"\n{key}:" in text
    assert trace.tools_used == ("Write", "Bash")


def test_signature_is_the_canonical_goal() -> None:
    # Sentence punctuation, whitespace and a plain word's case do not change a goal...
    assert goal_signature("Create  hello.py, and run it!") == goal_signature(
        "create hello.py and run it"
    )
    # ...a file name's case and the order of the words do.
    assert goal_signature("create HELLO.py and run it") != goal_signature(
        "create hello.py and run it"
    )
    assert goal_signature("copy a.txt to b.txt") != goal_signature("copy b.txt to a.txt")
    assert goal_signature("delete the build folder") != goal_signature("create the build folder")
    assert len(goal_signature("x")) == 16
    assert normalize_goal("  Hello,   World! ") == "hello world"  # for search only


def test_slots_and_aliases_round_trip_and_are_checked_at_load() -> None:
    trace = Trace(
        goal_text="copy notes.txt to backup.txt",
        steps=(TraceStep("Bash", {"command": "cp notes.txt backup.txt"}),),
        slots=(Slot("file", "notes.txt"), Slot("file", "backup.txt")),
        aliases=(Alias("duplicate notes.txt as backup.txt", ("notes.txt", "backup.txt")),),
    )
    assert parse(render(trace)) == trace
    assert trace.template.render() == "copy {1} to {2}"
    # A goal edited by hand that no longer names a slot's value keeps that value fixed.
    edited = render(trace).replace(
        "goal_text: copy notes.txt to backup.txt", "goal_text: back up notes.txt"
    )
    reread = parse(edited)
    assert reread.slots == (Slot("file", "notes.txt"),)
    assert reread.aliases[0].values == ("notes.txt",)
    with pytest.raises(TraceFormatError, match=r"unknown kind"):
        parse(render(trace).replace("kind: file", "kind: planet", 1), source="t.md")


def test_malformed_checks_are_refused_at_load_naming_the_field() -> None:
    trace = Trace(
        goal_text="x", steps=(TraceStep("Bash", {"command": "true"}, checks={"exit_code": 0}),)
    )
    text = render(trace).replace('"exit_code": 0', '"exit_code": "abc"')
    with pytest.raises(TraceFormatError, match=r"t.md: step 'Bash true': check exit_code"):
        parse(text, source="t.md")


_HEAD = "---\nschema_version: 1\ngoal_text: x\ngoal_signature: a\n---\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter at all", "no YAML front matter"),
        (
            "---\nschema_version: 99\ngoal_text: x\ngoal_signature: abc\n---\n",
            "unsupported schema_version",
        ),
        ("---\nschema_version: [1\n---\n", "not valid YAML"),
        (
            _HEAD + "### Step 1: x\n- **Tool:** Bash\n\n```json\n{oops\n```\n",
            "invalid JSON",
        ),
        (
            _HEAD + "### Step 1: x\n- **Tool:** Bash\n\n```json\n{}\n",
            "unterminated",
        ),
        ("---\nschema_version: 1\ngoal_text: x\n---\n", "lacks goal_signature"),
        (_HEAD.replace("x\n", "x\nusage_count: many\n", 1), "usage_count: bad value"),
    ],
)
def test_corrupt_traces_raise_a_clear_error(text: str, problem: str) -> None:
    with pytest.raises(TraceFormatError, match=problem):
        parse(text, source="t.md")


def test_store_keeps_versions_and_skips_corrupt_files(tmp_path: Path) -> None:
    store = TraceStore(tmp_path)
    first = Trace(goal_text="Build it", steps=(TraceStep("Bash", {"command": "make"}),))
    path = store.replace(first).path
    saved = store.replace(Trace(goal_text="build it!", steps=first.steps, usage_count=7))
    assert saved.previous == first and saved.kept is not None
    assert store.versions(first.goal_signature) == [saved.kept]
    assert parse(saved.kept.read_text()) == first
    assert store.load(first.goal_signature).usage_count == 7
    (tmp_path / "broken.md").write_text("---\n: [\n---\n", encoding="utf-8")
    assert [p for p, _ in store.iter_traces()] == [path]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files behind


def test_a_large_step_is_read_without_copies_and_counted_without_reading_it(
    tmp_path: Path,
) -> None:
    import tracemalloc

    content = ("x" * 99 + "\n") * 200_000  # 20 MB in one step
    trace = Trace(goal_text="write big.txt", steps=(TraceStep("Write", {"content": content}),))
    text = render(trace)
    tracemalloc.start()
    try:
        assert parse(text) == trace
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * len(content)  # the decoded content, and little more
    store = TraceStore(tmp_path)
    path = store.write(trace)
    tracemalloc.start()
    try:
        meta = store.count_use(path, ok=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # the front matter and a copy buffer
    assert meta["usage_count"] == 2
    assert parse(path.read_text()).steps == trace.steps  # the steps copied as they were
