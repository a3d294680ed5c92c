"""Policy files (llmos/_internal/security/policy_file.py) and how the engine weighs them: the
shipped default, the workspace's policy.yaml and a project's; hard rules no file can change; a
project that may only tighten; llmos's own files, which no tool call may change.

Every command here is data: it is judged, never executed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmos._internal.errors import UsageError
from llmos._internal.security import (
    HARD_RULES,
    RULES,
    Decision,
    check_command,
    check_tool_call,
    check_tool_name,
    default_policy,
    load_policy,
)
from llmos._internal.security.decision import RULE_CHOICES
from llmos._internal.security.globs import command_matcher, command_regex, normalize_command
from llmos._internal.security.policy import Policy


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "dev"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def ws(home: Path) -> Path:
    """A workspace inside home, as ~/.llmos is; its default project's working folder exists."""
    root = home / ".llmos"
    (root / "projects" / "default" / "output").mkdir(parents=True)
    (root / "projects" / "site" / "output").mkdir(parents=True)
    return root


def workdir(ws: Path, project: str = "default") -> Path:
    return ws / "projects" / project / "output"


def write_policy(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def decide(command: str, ws: Path, home: Path, project: str = "default") -> Decision:
    policy = load_policy(ws, project)
    return check_command(command, workdir=workdir(ws, project), home=home, policy=policy)


def call(tool: str, args: dict, ws: Path, home: Path, project: str = "default") -> Decision:
    policy = load_policy(ws, project)
    return check_tool_call(tool, args, workdir=workdir(ws, project), home=home, policy=policy)


# ------------------------------------------------------------------ the shipped default


def test_the_default_policy_sets_every_soft_rule_and_no_hard_one() -> None:
    policy = default_policy()
    (layer,) = policy.layers
    assert set(layer.rules) == set(RULE_CHOICES)
    assert not HARD_RULES & set(RULE_CHOICES)
    assert set(RULES) >= HARD_RULES | set(RULE_CHOICES)
    assert policy.rule_action("unparseable") == "ask"
    assert policy.rule_action("write-outside-workdir") == "deny"
    assert policy.rule_action("rm-protected-path") == "deny"


def test_the_default_policy_ships_in_the_package() -> None:
    from llmos._internal.security.policy_file import default_policy_path

    path = default_policy_path()
    assert path.is_file() and path.parent.name == "security"
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    entry = next(
        line
        for line in pyproject.read_text().splitlines()
        if '"llmos._internal.security" =' in line
    )
    assert '"default_policy.yaml"' in entry


def test_without_policy_files_the_default_applies(ws: Path, home: Path) -> None:
    assert decide("rm -rf build", ws, home).allowed
    asked = decide("npm publish --access public", ws, home)
    assert (asked.action, asked.rule) == ("ask", "policy-ask")
    assert "npm publish*" in asked.reason and "default_policy.yaml" in asked.reason


# ----------------------------------------------------------------- the workspace's file


def test_an_allowed_path_counts_as_the_workspace_for_soft_rules(ws: Path, home: Path) -> None:
    assert decide("echo x > ~/notes/today.md", ws, home).rule == "write-outside-workdir"
    write_policy(ws / "policy.yaml", "allow:\n  paths: ['~/notes']\n")
    assert decide("echo x > ~/notes/today.md", ws, home).allowed
    assert decide("rm -rf ~/notes/old", ws, home).allowed
    assert call("Write", {"file_path": str(home / "notes" / "a.md")}, ws, home).allowed
    # ... but never for hard rules, nor beyond what the glob names.
    assert decide("echo x > ~/notes2/a", ws, home).rule == "write-outside-workdir"
    write_policy(ws / "policy.yaml", "allow:\n  paths: ['~/**']\n")
    assert decide("echo evil >> ~/.bashrc", ws, home).rule == "persistence"
    assert decide("rm -rf ~", ws, home).rule == "rm-protected-path"
    assert decide("cat ~/.ssh/config", ws, home).allowed  # not a secret anyway


def test_an_allowed_command_lifts_soft_rules_but_never_hard_ones(ws: Path, home: Path) -> None:
    assert decide("git push --force origin main", ws, home).rule == "git-force-main"
    write_policy(
        ws / "policy.yaml",
        "allow:\n  commands:\n    - 'git push --force origin main'\n    - 'rm -rf *'\n",
    )
    lifted = decide("git push --force origin main", ws, home)
    assert (lifted.action, lifted.rule) == ("allow", "policy-allow")
    assert "git push --force origin main" in lifted.reason and "policy.yaml" in lifted.reason
    assert decide("git push --force origin master", ws, home).rule == "git-force-main"
    assert decide("rm -rf /", ws, home).rule == "rm-protected-path"
    assert decide("cd ~ && rm -rf *", ws, home).rule == "rm-protected-path"


def test_an_allowed_command_covers_the_code_it_runs(ws: Path, home: Path) -> None:
    assert decide('eval "$(mytool init -)"', ws, home).action == "ask"
    write_policy(
        ws / "policy.yaml",
        "allow:\n  commands:\n    - 'eval \"$(mytool init -)\"'\n    - 'bash -c *'\n",
    )
    assert decide('eval "$(mytool init -)"', ws, home).rule == "policy-allow"
    assert decide("eval $OTHER", ws, home).action == "ask"  # only what was allowed
    assert decide("bash -c 'echo x > ~/notes.txt'", ws, home).rule == "policy-allow"
    assert decide("bash -c 'rm -rf /'", ws, home).rule == "rm-protected-path"  # never hard


def test_rules_can_be_set_within_their_choices(ws: Path, home: Path) -> None:
    write_policy(
        ws / "policy.yaml",
        "rules:\n  git-force-main: ask\n  unparseable: deny\n  credential-listing: allow\n",
    )
    assert decide("git push -f origin main", ws, home).action == "ask"
    assert decide("case $x in a) echo;; esac", ws, home).action == "deny"
    assert call("Glob", {"pattern": "*", "path": str(home / ".ssh")}, ws, home).allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  rm-protected-path: allow\n", "hard rule"),
        ("rules:\n  unparseable: allow\n", "may be deny or ask"),
        ("rules:\n  no-such-rule: deny\n", "unknown rule"),
        ("rules:\n  git-force-main: maybe\n", "may be deny or ask or allow"),
        ("alow:\n  commands: [x]\n", "unknown key"),
        ("allow:\n  programs: [x]\n", "unknown list"),
        ("allow:\n  commands: x\n", "list of non-empty strings"),
        ("version: 2\n", "not supported"),
        ("- just a list\n", "expected a mapping"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_a_bad_policy_file_is_a_clear_error(ws: Path, home: Path, text: str, message: str) -> None:
    write_policy(ws / "policy.yaml", text)
    with pytest.raises(UsageError, match=message) as caught:
        load_policy(ws, "default")
    assert str(ws / "policy.yaml") in caught.value.message


def test_deny_and_ask_lists(ws: Path, home: Path) -> None:
    write_policy(
        ws / "policy.yaml",
        "deny:\n  commands: ['terraform *']\n  tools: [WebFetch]\n  paths: ['.git/**']\n"
        "ask:\n  paths: ['~/Documents']\n  tools: ['mcp__llmos_mail__*']\n",
    )
    assert decide("cd infra && terraform plan", ws, home).rule == "policy-deny"
    assert decide("sudo terraform apply", ws, home).rule == "policy-deny"  # as resolved
    assert call("WebFetch", {"url": "https://example.com"}, ws, home).rule == "policy-deny"
    assert decide("rm -rf .git/hooks", ws, home).rule == "policy-deny"
    write_git = call("Write", {"file_path": ".git/config", "content": ""}, ws, home)
    assert write_git.rule == "policy-deny"
    read_doc = call("Read", {"file_path": str(home / "Documents" / "cv.pdf")}, ws, home)
    assert (read_doc.action, read_doc.rule) == ("ask", "policy-ask")
    assert decide("ls ~/Documents/taxes", ws, home).action == "ask"
    assert call("mcp__llmos_mail__send", {}, ws, home).action == "ask"
    assert call("mcp__llmos_dates__days", {}, ws, home).allowed


def test_deny_beats_ask_beats_allow(ws: Path, home: Path) -> None:
    write_policy(
        ws / "policy.yaml",
        "deny:\n  commands: ['make deploy*']\nask:\n  commands: ['make *']\n"
        "allow:\n  commands: ['make *']\n",
    )
    assert decide("make deploy", ws, home).rule == "policy-deny"
    assert decide("make test", ws, home).action == "ask"


@pytest.mark.filterwarnings("ignore::FutureWarning")  # odd globs such as "[[" are data here
@settings(max_examples=400, deadline=None)
@given(
    pattern=st.text(alphabet="ab *?[]!^-\\", max_size=8),
    subject=st.text(alphabet="ab *?[]-\\", max_size=8),
)
def test_command_globs_match_without_a_regex_as_with_one(pattern: str, subject: str) -> None:
    """Plain globs (and plain ones with a trailing *) skip the regex; the answer is the same."""

    def by_regex() -> bool | str:
        try:
            regex = command_regex(pattern)
        except re.error:
            return "invalid"
        return regex.match(subject) is not None

    def by_matcher() -> bool | str:
        try:
            matches = command_matcher(pattern)
        except re.error:
            return "invalid"
        return matches(subject)

    subject = normalize_command(subject)  # as `Policy.match` hands subjects over
    assert by_matcher() == by_regex()


def test_the_workspace_may_loosen_what_the_default_asks(ws: Path, home: Path) -> None:
    write_policy(ws / "policy.yaml", "allow:\n  commands: ['npm publish*']\n")
    assert decide("npm publish", ws, home).allowed


def test_other_mcp_tools_can_be_allowed_by_name(ws: Path, home: Path) -> None:
    assert call("mcp__github__create_issue", {}, ws, home).rule == "unknown-mcp-tool"
    write_policy(ws / "policy.yaml", "allow:\n  tools: ['mcp__github__*']\n")
    assert call("mcp__github__create_issue", {"title": "x"}, ws, home).allowed


# ------------------------------------------------------------------ a project's file


def test_a_project_may_tighten(ws: Path, home: Path) -> None:
    write_policy(ws / "policy.yaml", "allow:\n  commands: ['npm publish*']\n")
    write_policy(
        ws / "projects" / "site" / "policy.yaml",
        "rules:\n  credential-listing: deny\n  unparseable: deny\n"
        "ask:\n  commands: ['npm publish*']\ndeny:\n  tools: [Bash]\n",
    )
    assert decide("npm publish", ws, home, "site").action == "ask"  # the project asks again
    assert call("Bash", {"command": "ls"}, ws, home, "site").rule == "policy-deny"
    assert call("Bash", {"command": "ls"}, ws, home, "default").allowed  # only that project
    glob = {"pattern": "*", "path": str(home / ".ssh")}
    assert call("Glob", glob, ws, home, "site").action == "deny"
    assert decide("case $x in a) echo;; esac", ws, home, "site").action == "deny"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("allow:\n  commands: ['rm -rf *']\n", "only tighten"),
        ("allow:\n  paths: ['~']\n", "only tighten"),
        ("rules:\n  write-outside-workdir: allow\n", "looser"),
        ("rules:\n  unparseable: ask\n", ""),  # not looser than the default: fine
    ],
)
def test_a_project_cannot_loosen(ws: Path, home: Path, text: str, message: str) -> None:
    write_policy(ws / "projects" / "site" / "policy.yaml", text)
    if not message:
        load_policy(ws, "site")
        return
    with pytest.raises(UsageError, match=message):
        load_policy(ws, "site")


def test_a_project_cannot_loosen_what_the_workspace_tightened(ws: Path, home: Path) -> None:
    write_policy(ws / "policy.yaml", "rules:\n  unparseable: deny\n")
    write_policy(ws / "projects" / "site" / "policy.yaml", "rules:\n  unparseable: ask\n")
    with pytest.raises(UsageError, match="looser than deny"):
        load_policy(ws, "site")


# ------------------------------------------------------------------ llmos's own files


@pytest.mark.parametrize(
    "target",
    [
        "policy.yaml",
        "config.yaml",
        "state/llmos.db",
        "plugins/evil.py",
        "memories/sessions/run.jsonl",
        "projects/default/policy.yaml",
        "projects/site/project.yaml",
    ],
)
def test_no_call_changes_llmos_own_files(ws: Path, home: Path, target: str) -> None:
    write_policy(ws / "policy.yaml", f"allow:\n  paths: ['{ws}/**']\n")  # even allowed
    path = ws / target
    assert decide(f"echo x > {path}", ws, home).rule == "llmos-state"
    assert decide(f"rm -f {path}", ws, home).rule == "llmos-state"
    assert decide(f"python3 -c \"open('{path}', 'w')\"", ws, home).rule == "llmos-state"
    written = call("Write", {"file_path": str(path), "content": "x"}, ws, home)
    assert written.rule == "llmos-state"
    assert call("Read", {"file_path": str(path)}, ws, home).allowed  # reading is fine


def test_deleting_a_folder_that_holds_llmos_state_is_denied(ws: Path, home: Path) -> None:
    assert decide(f"rm -rf {ws / 'memories'}", ws, home).rule == "llmos-state"
    assert decide(f"rm -rf {ws}", ws, home).rule == "rm-protected-path"


def test_policy_show_describes_every_part() -> None:
    data = default_policy().to_dict()
    assert set(data) >= {"files", "hard_rules", "rules", "deny", "ask", "allow", "guarded"}
    assert data["rules"]["unparseable"] == {
        "action": "ask",
        "set_by": "default",
        "choices": ["deny", "ask"],
        "means": RULES["unparseable"],
    }
    assert {"pattern": "npm publish*", "layer": "default"} in data["ask"]["commands"]


def test_load_policy_without_a_workspace_is_the_default() -> None:
    assert load_policy(None) is default_policy()
    assert isinstance(default_policy(), Policy)


# --------------------------------------------------- the run's tools (llmos/plugins/)


def test_check_tool_name_keeps_its_contract() -> None:
    assert check_tool_name("Bash").allowed
    assert check_tool_name("Bash", denied=["Ba*"]).rule == "tool-not-allowed"
    assert check_tool_name("mcp__github__x").rule == "unknown-mcp-tool"
    assert check_tool_name("mcp__llmos_dates__days").allowed
    denied = check_tool_name("mcp__llmos_dates__days", plugin_tools=["mcp__llmos_other__x"])
    assert denied.rule == "tool-not-allowed"


def test_the_most_permissive_workspace_policy_leaves_every_hard_denial(
    ws: Path, home: Path
) -> None:
    from test_security_policy import DENIED, HIDDEN, WRAPPED

    soft = "\n".join(f"  {rule}: {choices[-1]}" for rule, choices in RULE_CHOICES.items())
    write_policy(
        ws / "policy.yaml",
        f"rules:\n{soft}\nallow:\n  commands: ['*']\n  tools: ['*']\n  paths: ['/**', '/']\n",
    )
    policy = load_policy(ws, "default")
    assert all(policy.rule_action(rule) != "deny" for rule in RULE_CHOICES)
    cases = [(rule, c) for rule, cmds in DENIED.items() if rule in HARD_RULES for c in cmds]
    cases += [("rm-protected-path", c) for c in HIDDEN + WRAPPED]
    assert len(cases) > 150
    for rule, command in cases:
        decision = check_command(command, workdir=workdir(ws), home=home, policy=policy)
        assert (decision.action, decision.rule) == ("deny", rule), (command, decision)
