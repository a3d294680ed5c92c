"""Recall: relevant memory first, each item with its source, never over the token budget,
counted with the model API's count_tokens (or conservatively when it is unavailable)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmos._internal.engine.recall import HEADER, Candidate, fit, recall
from llmos._internal.memory.facts import MemoryStore
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.memory_item import MemoryItem
from llmos._internal.memory.tokens import ConservativeCounter
from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.sdk.token_count import ApiTokenCounter, counter_for
from llmos._internal.testing.scripted_model import COUNT_TOKENS_PATH, ScriptedModelServer
from llmos._internal.workspace import Workspace

# A small labelled set: facts by name, and for each goal the facts that matter to it. Facts
# not listed for a goal share no meaningful word with it and must never be recalled for it.
FACTS = {
    "pg_backup": "Postgres backups use pg_dump --format=custom into /var/backups, nightly.",
    "pg_port": "The postgres database listens on port 5433, not 5432.",
    "docker": "Deploy the web app with docker compose up -d on the staging host.",
    "npm": "Frontend tests run with npm test; lint them with npm run lint.",
    "python": "Python scripts here run with python3 and live in scripts/.",
    "commits": "Commit messages follow the conventional commits style.",
    "cron": "Cron jobs are defined in /etc/cron.d, one file per job.",
}
LABELLED = [
    ("Set up a nightly backup of the postgres database", {"pg_backup", "pg_port"}),
    ("Deploy the web app to staging", {"docker"}),
    ("Run the frontend tests and the linter", {"npm"}),
    ("Write a python script that prints the date", {"python"}),
    ("Add a cron job that empties /tmp every day", {"cron"}),
]


@dataclass
class Memory:
    ws: Workspace
    store: MemoryStore
    library: TraceLibrary
    paths: dict[str, str]


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    ws = Workspace.open(tmp_path / "ws")
    with MemoryStore(ws) as store, TraceLibrary(ws) as library:
        paths = {name: str(store.add_fact(text)[1]) for name, text in FACTS.items()}
        yield Memory(ws, store, library, paths)


def _names(memory: Memory, sources: list[str]) -> set[str]:
    by_path = {path: name for name, path in memory.paths.items()}
    return {by_path.get(source, source) for source in sources}


@pytest.mark.parametrize(("goal", "relevant"), LABELLED)
def test_relevant_facts_are_recalled_and_irrelevant_ones_never(
    memory: Memory, goal: str, relevant: set[str]
) -> None:
    got = recall(goal, library=memory.library, memory=memory.store, token_cap=2000)
    assert _names(memory, got.sources) == relevant
    assert got.text.startswith(HEADER)
    for source in got.sources:  # each item names its source
        assert Path(source).relative_to(memory.ws.root).as_posix() in got.text


def test_a_tight_budget_keeps_the_most_relevant(memory: Memory) -> None:
    goal = "Set up a nightly backup of the postgres database"
    roomy = recall(goal, library=memory.library, memory=memory.store, token_cap=2000)
    assert _names(memory, roomy.sources) == {"pg_backup", "pg_port"}
    best = roomy.items[0]
    assert _names(memory, [best.source]) == {"pg_backup"}  # mentions more of the goal
    assert roomy.items[0].score > roomy.items[1].score
    # Room for the header and the best item only.
    tight_cap = roomy.tokens - roomy.items[1].tokens - 1
    tight = recall(goal, library=memory.library, memory=memory.store, token_cap=tight_cap)
    assert tight.sources == [best.source] and tight.tokens <= tight_cap
    assert tight.skipped == (roomy.items[1].source,)
    nothing = recall(goal, library=memory.library, memory=memory.store, token_cap=10)
    assert nothing.text == "" and nothing.sources == [] and nothing.considered == 2


def test_a_shorter_item_fills_room_a_longer_one_cannot(memory: Memory) -> None:
    long_fact = "Postgres backups: " + "keep them safe and verified; " * 40 + "nightly."
    memory.store.add_fact(long_fact)
    goal = "nightly postgres backups"
    got = recall(goal, library=memory.library, memory=memory.store, token_cap=400)
    assert got.tokens <= 400
    assert "pg_backup" in _names(memory, got.sources)
    assert all("keep them safe" not in line for line in got.text.splitlines())


def test_similar_traces_are_recalled_but_not_the_worked_example(memory: Memory) -> None:
    dump = Trace(
        goal_text="back up the postgres database to the NAS",
        steps=(TraceStep("Bash", {"command": "pg_dump db > /nas/db.dump"}, summary="Dump"),),
    )
    restore = Trace(
        goal_text="restore the postgres backup",
        steps=(TraceStep("Bash", {"command": "pg_restore db.dump"}, summary="Restore"),),
    )
    dump_path, restore_path = str(memory.library.add(dump)), str(memory.library.add(restore))
    insight = MemoryItem(
        id=dump.goal_signature,
        kind="insight",
        text="Backing up the postgres database worked with pg_dump piped to the NAS.",
        project="default",
        meta={"trace": dump.goal_signature},
    )
    insight_path = str(memory.store.write(insight))
    goal = "Set up a nightly backup of the postgres database"
    got = recall(goal, library=memory.library, memory=memory.store, token_cap=2000)
    assert {restore_path, insight_path} <= set(got.sources)
    assert f"trace {restore.goal_signature}" in got.text and "Steps: Restore." in got.text
    assert {"trace", "insight", "fact"} <= {item.kind for item in got.items}
    assert dump_path not in got.sources  # its insight says the same, and what it cost

    shown = frozenset({dump.goal_signature})  # given to the run as its worked example
    without = recall(
        goal, library=memory.library, memory=memory.store, token_cap=2000, exclude=shown
    )
    assert insight_path not in without.sources and dump_path not in without.sources
    assert restore_path in without.sources


def test_project_memory_is_recalled_only_in_its_project(memory: Memory) -> None:
    _, web_path = memory.store.add_fact("Deploys of the web app need npm run build", project="web")
    goal = "Deploy the web app to staging"
    in_web = recall(
        goal, library=memory.library, memory=memory.store, token_cap=2000, project="web"
    )
    in_api = recall(
        goal, library=memory.library, memory=memory.store, token_cap=2000, project="api"
    )
    assert str(web_path) in in_web.sources and "project web" in in_web.text
    assert str(web_path) not in in_api.sources
    assert memory.paths["docker"] in in_api.sources  # the workspace's facts reach every project


def test_distilled_insights_are_left_to_their_facts(memory: Memory) -> None:
    item = MemoryItem(
        id="i1",
        kind="insight",
        text="Deploying the web app to staging took two docker commands.",
        project="default",
        meta={"distilled_at": "2026-01-01T00:00:00+00:00"},
    )
    path = str(memory.store.write(item))
    got = recall(
        "Deploy the web app to staging", library=memory.library, memory=memory.store, token_cap=2000
    )
    assert path not in got.sources


class Superadditive:
    """A counter under which a whole costs more than its parts: recall must re-check it."""

    name = "superadditive"

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(text) + 3 * (text.count("\n") + 1) ** 2 for text in texts]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=12),
    budget=st.integers(min_value=0, max_value=3000),
    superadditive=st.booleans(),
)
def test_the_budget_is_never_exceeded(lengths: list[int], budget: int, superadditive: bool) -> None:
    candidates = [
        Candidate("fact", f"/f{n}.md", 1.0 - n / 100, "- Fact: " + "x" * length)
        for n, length in enumerate(lengths)
    ]
    counter = Superadditive() if superadditive else ConservativeCounter()
    got = fit(candidates, budget, counter)
    if got.text:
        (total,) = counter.count([got.text])
        assert got.tokens == total <= budget
        assert got.sources == [c.source for c in candidates if c.source in got.sources]
    else:
        assert got.tokens == 0 and got.sources == []
    assert len(got.sources) + len(got.skipped) == len(candidates)


def test_real_counts_come_from_count_tokens(
    memory: Memory, model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    env = model_server.client_env(tmp_path / "claude")
    counter = counter_for(env, "claude-sonnet-4-5")
    assert isinstance(counter, ApiTokenCounter)
    before = len([r for r in model_server.requests if r.path == COUNT_TOKENS_PATH])
    goal = "Set up a nightly backup of the postgres database"
    got = recall(goal, library=memory.library, memory=memory.store, token_cap=2000, counter=counter)
    assert got.counter == "count_tokens (claude-sonnet-4-5)"
    assert _names(memory, got.sources) == {"pg_backup", "pg_port"}
    asked = [r for r in model_server.requests if r.path == COUNT_TOKENS_PATH][before:]
    texts = [r.body["messages"][0]["content"] for r in asked]
    assert got.text in texts  # the whole was counted as it was injected
    assert 0 < got.tokens <= 2000
    assert got.tokens < len(got.text.encode())  # a real count, not the conservative one


def test_an_unreachable_count_tokens_falls_back_to_the_conservative_count(
    memory: Memory,
) -> None:
    counter = counter_for({"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}, None)  # nothing there
    goal = "Set up a nightly backup of the postgres database"
    got = recall(goal, library=memory.library, memory=memory.store, token_cap=2000, counter=counter)
    assert got.counter.startswith("conservative") and "count_tokens failed" in got.counter
    assert _names(memory, got.sources) == {"pg_backup", "pg_port"}
    assert got.tokens == len(got.text.encode()) <= 2000


def test_which_counter_an_environment_gets() -> None:
    assert isinstance(counter_for({}, None), ConservativeCounter)  # e.g. a Claude Code login
    bedrock = {"ANTHROPIC_API_KEY": "k", "CLAUDE_CODE_USE_BEDROCK": "1"}
    assert isinstance(counter_for(bedrock, None), ConservativeCounter)
    api = counter_for({"ANTHROPIC_API_KEY": "k"}, "sonnet")
    assert isinstance(api, ApiTokenCounter)
    assert api.url == "https://api.anthropic.com/v1/messages/count_tokens"
    assert api.model == "claude-sonnet-4-5"  # an alias is no model id for the endpoint
    assert ConservativeCounter().count(["héllo", ""]) == [6, 0]
