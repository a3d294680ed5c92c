"""L4 memory: facts and insights as files, their index kept in step, project scopes, and the
`llmos memory` commands."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Sandbox, run_llmos

from llmos._internal.errors import UsageError
from llmos._internal.memory.facts import MemoryStore, scopes_for
from llmos._internal.memory.memory_item import MemoryItem, parse, render
from llmos._internal.memory.terms import stem, terms
from llmos._internal.workspace import Workspace


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with MemoryStore(Workspace.open(tmp_path / "ws")) as memory:
        yield memory


def _ids(store: MemoryStore, query: str, project: str | None = None) -> list[str]:
    return [s.item.id for s in store.search(query, projects=scopes_for(project))]


def test_terms_fold_case_punctuation_stopwords_and_suffixes() -> None:
    assert terms("Count the Python files, please!") == ["count", "python", "fil"]
    assert stem("running") == stem("run") == "run"
    assert stem("created") == stem("creating") == stem("create")
    assert stem("queries") == stem("query")
    assert terms("the a of") == []


def test_a_fact_is_a_markdown_file_with_front_matter(store: MemoryStore) -> None:
    item, path = store.add_fact("  Deploys use docker compose.  ", tags=["Deploy", "docker"])
    assert path == store.ws.memories / "facts" / f"{item.id}.md"
    text = path.read_text()
    assert text.startswith("---\n") and "source: user" in text
    assert text.rstrip().endswith("Deploys use docker compose.")
    back = parse(text, path=path, kind="fact", project=None)
    assert back == item and back.tags == ("deploy", "docker")
    assert parse(render(item), path=path, kind="fact", project=None) == item


def test_project_facts_live_in_the_project_and_stay_there(store: MemoryStore) -> None:
    shared, _ = store.add_fact("Deploy with docker compose on the staging host")
    web, web_path = store.add_fact("Deploy the web app after npm run build", project="web")
    api, _ = store.add_fact("Deploy the api with a blue green switch", project="api")
    assert web_path == store.ws.root / "projects" / "web" / "memory" / "facts" / f"{web.id}.md"
    assert (store.ws.root / "projects" / "web" / "output").is_dir()  # a project like any other
    assert set(_ids(store, "deploy", "web")) == {shared.id, web.id}
    assert set(_ids(store, "deploy", "api")) == {shared.id, api.id}
    assert set(_ids(store, "deploy")) == {shared.id, web.id, api.id}  # every scope
    listed = store.listing(projects=scopes_for("web"))
    assert {e.id for e in listed} == {shared.id, web.id}
    assert store.resolve(web.id).project == "web"


def test_search_ranks_by_relevance(store: MemoryStore) -> None:
    both, _ = store.add_fact("Postgres backups run nightly with pg_dump")
    one, _ = store.add_fact("The postgres database listens on port 5433")
    store.add_fact("Frontend tests run with npm test")
    found = store.search("nightly postgres backups")
    assert [s.item.id for s in found] == [both.id, one.id]
    assert found[0].score == 1.0 and 0 < found[1].score < 1.0


def test_the_index_follows_files_added_edited_and_removed_by_hand(store: MemoryStore) -> None:
    facts = store.ws.memories / "facts"
    by_hand = facts / "python.md"
    by_hand.write_text("Python files use the .py suffix.\n")  # no front matter: still a fact
    (entry,) = store.listing()
    assert (entry.id, entry.kind, entry.source, entry.project) == ("python", "fact", "file", None)
    assert _ids(store, "python suffix") == ["python"]

    by_hand.write_text("Ruby files use the .rb suffix, and more.\n")  # edited in place
    assert _ids(store, "python") == []
    assert _ids(store, "ruby") == ["python"]

    insight = store.ws.root / "projects" / "web" / "memory" / "insights" / "abc.md"
    insight.parent.mkdir(parents=True)
    insight.write_text("---\ntags: [npm]\ntrace: f00d\n---\nnpm ci is faster than npm install\n")
    (found,) = store.search("npm install", projects=scopes_for("web"))
    assert (found.item.kind, found.item.project, found.item.trace) == ("insight", "web", "f00d")

    by_hand.unlink()
    os.utime(facts)  # even without a folder mtime change, each query stats the files
    assert _ids(store, "ruby") == []


def test_an_unreadable_file_is_skipped_and_reported(store: MemoryStore) -> None:
    good, _ = store.add_fact("Backups go to the NAS")
    bad = store.ws.memories / "facts" / "bad.md"
    bad.write_text("---\ntags: [unclosed\n---\nbroken\n")
    assert [e.id for e in store.listing()] == [good.id]
    assert any("bad.md" in problem for problem in store.problems)


def test_the_index_can_be_deleted_and_rebuilt(store: MemoryStore, tmp_path: Path) -> None:
    item, _ = store.add_fact("Logs rotate weekly")
    store.close()
    (store.ws.state_dir / "memory_index.db").unlink()
    with MemoryStore(store.ws) as again:
        assert [s.item.id for s in again.search("logs rotate")] == [item.id]
        count, problems = again.index.rebuild(again.folders())
        assert (count, problems) == (1, [])


def test_ids_resolve_by_prefix_and_are_checked(store: MemoryStore) -> None:
    store.write(MemoryItem(id="abc123", kind="fact", text="one"))
    store.write(MemoryItem(id="abd456", kind="fact", text="two"))
    store.write(MemoryItem(id="abc123", kind="fact", text="three", project="web"))
    assert store.resolve("abd").text == "two"
    with pytest.raises(UsageError, match="ambiguous"):
        store.resolve("abc123")  # the same id in two scopes
    assert store.resolve("abc123", project="web").text == "three"
    with pytest.raises(UsageError, match="no memory has the id"):
        store.resolve("zzz")
    with pytest.raises(UsageError, match="invalid memory id"):
        store.resolve("../etc/passwd")
    store.remove(store.resolve("abd"))
    assert not (store.ws.memories / "facts" / "abd456.md").exists()
    with pytest.raises(UsageError, match="no memory has the id"):
        store.resolve("abd")


def test_bad_input_is_refused(store: MemoryStore) -> None:
    with pytest.raises(UsageError, match="empty"):
        store.add_fact("   ")
    with pytest.raises(UsageError, match="invalid tag"):
        store.add_fact("x", tags=["two words"])
    with pytest.raises(UsageError, match="invalid project name"):
        store.add_fact("x", project="../escape")
    assert store.listing() == []


def test_memory_commands(sandbox: Sandbox) -> None:
    added = run_llmos(
        sandbox, "memory", "add", "Nightly backups use pg_dump", "-t", "postgres", "--json"
    )
    assert added.returncode == 0, added.stderr
    fact = json.loads(added.stdout)
    assert Path(fact["path"]).is_file() and fact["project"] is None
    assert run_llmos(sandbox, "project", "create", "web").returncode == 0
    in_web = run_llmos(sandbox, "memory", "add", "Web backups skip node_modules", "-p", "web")
    assert in_web.returncode == 0 and "project web" in in_web.stdout

    found = json.loads(run_llmos(sandbox, "memory", "search", "backups", "--json").stdout)
    assert found["count"] == 2
    assert {f["text"] for f in found["items"]} == {
        "Nightly backups use pg_dump",
        "Web backups skip node_modules",
    }
    assert run_llmos(sandbox, "project", "create", "api").returncode == 0
    only_api = run_llmos(sandbox, "memory", "search", "backups", "-p", "api", "--json")
    assert [f["id"] for f in json.loads(only_api.stdout)["items"]] == [fact["id"]]
    tagged = json.loads(run_llmos(sandbox, "memory", "list", "-t", "postgres", "--json").stdout)
    assert [f["id"] for f in tagged["items"]] == [fact["id"]]

    shown = run_llmos(sandbox, "memory", "show", fact["id"][:6])
    assert shown.returncode == 0 and "Nightly backups use pg_dump" in shown.stdout
    removed = run_llmos(sandbox, "memory", "rm", "--yes", fact["id"])
    assert removed.returncode == 0 and not Path(fact["path"]).exists()

    for args, message in (
        (("memory", "add", "  "), "the text is empty"),
        (("memory", "add", "a fact", "-p", "nosuch"), "no project named 'nosuch'"),
        (("memory", "list", "-p", "nosuch"), "no project named 'nosuch'"),
        (("memory", "search", "x", "-p", "nosuch"), "no project named 'nosuch'"),
        (("memory", "rm", "-y", "nope"), "no memory has the id nope"),
        (("memory", "list", "--kind", "rumour"), "--kind must be fact or insight"),
    ):
        proc = run_llmos(sandbox, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
