"""The engine: one decision (allow, ask, deny) for a tool call, from the built-in rules and the
policy files.

For each thing a call would do (each simple command of a shell command, the path of a file
tool), in this order:

1. a **hard** rule's objection denies, whatever the policy files say;
2. a policy **deny** entry (command, tool or path glob) denies; an **ask** entry asks;
3. each **soft** rule's objection does what the policy says for that rule (deny, ask, allow),
   unless an **allow** entry matching that command lifts it (allow entries for paths are
   applied by the rules themselves: such paths count as the workspace);
4. otherwise the call is allowed.

A call is denied if any part is, else asked about if any part is. A shell command that cannot
be parsed is asked about (rule ``unparseable``), unless a piece of it is plainly denied.

The commands of a script a call runs (``sh cleanup.sh``, ``make``, ``npm test``) are judged
like the call's own. A script written earlier in this command or run counts in full (one
that cannot be read is asked about); one that was already on disk counts by its denials only
(it is the user's own, and ran before llmos read scripts), and if it cannot be parsed, by the
plainly denied pieces of it.

With a run's `RunFiles`, what a call writes (a Write's content, an Edit's result, a shell
command's here-document into a file) is remembered for the later calls of the run, unless
the call is denied.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llmos._internal.security.decision import (
    ALLOW,
    HARD_RULES,
    STRICTNESS,
    Decision,
    ask,
    deny,
    unparseable,
)
from llmos._internal.security.policy_file import Match, Policy
from llmos._internal.security.run_files import RunFiles
from llmos._internal.security.shell import ShellAnalysisError, analyze, fragments
from llmos._internal.security.shell_types import UNKNOWN, Command, Finding
from llmos._internal.security.verdicts import (
    file_tool_verdict,
    holds_secrets,
    in_secret_folder,
    read_verdict,
)
from llmos._internal.security.zones import Zones, shown

FILE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path"}
FILE_TOOLS["NotebookEdit"] = "notebook_path"
READ_TOOLS = {"Read": "file_path", "NotebookRead": "notebook_path"}
SEARCH_TOOLS = ("Grep", "Glob", "LS")
MCP_PREFIX = "mcp__"
_NOT_LIFTED = frozenset({"unparseable"})  # allow entries never turn these into allow
# Rules about this machine's paths around the workspace, which mean nothing for a command run
# on another machine (ssh host CMD) or in a container: the hard rules still apply there.
_HERE_ONLY = frozenset({"delete-outside-workdir", "write-outside-workdir", "git-outside-workdir"})


def decide_call(
    tool: str,
    tool_input: Mapping[str, Any],
    zones: Zones,
    policy: Policy,
    files: RunFiles | None = None,
) -> Decision:
    by_name = _by_name(tool, policy)
    if by_name.denied:
        return by_name
    return combine([by_name, _by_input(tool, tool_input, zones, policy, files)])


def decide_command(
    command: str, zones: Zones, policy: Policy, files: RunFiles | None = None
) -> Decision:
    try:
        analysis = analyze(command, cwd=zones.workdir, home=zones.home, files=files)
    except ShellAnalysisError as exc:
        return _unanalysable(command, str(exc), zones, policy)
    decision = combine(_judge(analysis.events, zones, policy))
    if files is not None and not decision.denied:
        files.learn(analysis.written)
    return decision


def combine(decisions: Iterable[Decision]) -> Decision:
    """Deny if any part is denied, else ask if any asks, else allow (saying why, when an
    allow entry lifted a rule)."""
    first_ask = lifted = None
    for decision in decisions:
        if decision.denied:
            return decision
        if decision.asks and first_ask is None:
            first_ask = decision
        if decision.allowed and decision.rule != "none" and lifted is None:
            lifted = decision
    return first_ask or lifted or ALLOW


def settle(
    hits: Sequence[Decision],
    policy: Policy,
    *,
    texts: Sequence[str] = (),
    paths: Sequence[str] = (),
    zones: Zones,
) -> Decision:
    """The decision on one simple command (`texts`: as written, as resolved, and the commands
    whose code it is: an entry for `eval "$(pyenv init -)"` covers what that eval runs) or one
    path of a tool, given the built-in rules' objections `hits`."""
    hard = next((h for h in hits if h.rule in HARD_RULES), None)
    if hard is not None:
        return hard
    by_command = policy.match("commands", texts) if texts else None
    by_path = policy.match_paths(paths, zones.home, zones.workdir)
    for verdict, verb in (("deny", "denies"), ("ask", "asks a human about")):
        for found in (by_command, by_path):
            if found is not None and found.action == verdict:
                return Decision(verdict, _listed_reason(found, verb), f"policy-{verdict}")
    # Allowed paths already count as the workspace for the rules; an allowed command lifts
    # the soft objections to that command.
    listed = by_command if by_command is not None and by_command.action == "allow" else None
    remaining: list[Decision] = []
    lifted: Decision | None = None
    for hit in hits:
        action = policy.rule_action(hit.rule)
        if action == "allow" or (listed is not None and hit.rule not in _NOT_LIFTED):
            why = listed.describe() if listed else f"the policy sets {hit.rule} to allow"
            reason = f"Allowed by {why}, over this objection: {hit.reason}"
            lifted = lifted or Decision("allow", reason, "policy-allow")
            continue
        remaining.append(Decision(action, hit.reason, hit.rule))
    if remaining:
        return max(remaining, key=lambda d: STRICTNESS[d.action])
    return lifted or ALLOW


def _listed_reason(listed: Match, verb: str) -> str:
    return (
        f"The policy {verb} this call: {listed.describe()}. "
        + ("Reach the goal another way." if listed.action == "deny" else "")
    ).strip()


def _judge(events: Iterable[Command | Finding], zones: Zones, policy: Policy) -> list[Decision]:
    # The rules for shell commands load with the first one: file tools never need them, and
    # importing the policy is on the path of every `llmos run`.
    from llmos._internal.security.commands import command_hits, finding_decision

    out = []
    for event in events:
        if isinstance(event, Finding):
            found = (
                _unreadable_script(event, zones, policy)
                if event.rule == "unreadable-script"
                else finding_decision(event, zones)
            )
            if found is None:
                continue
            decision = found
            if event.script and event.rule != "unreadable-script":
                where = _where(event.script, zones)
                decision = decision._replace(
                    reason=f"In {where}, which this command runs: {decision.reason}"
                )
        else:
            decision = settle(
                command_hits(event, zones),
                policy,
                texts=(event.text, event.line, *event.outer) if event.name else event.outer,
                paths=_command_paths(event, zones, policy),
                zones=zones,
            )
            if event.script and not decision.allowed:
                where = _where(event.script, zones)
                decision = decision._replace(
                    reason=f"In {where}, which this command runs: {decision.reason}"
                )
        if decision.asks and event.origin == "disk":
            continue  # a script already on disk counts by its denials only
        if isinstance(event, Command) and event.remote and decision.rule in _HERE_ONLY:
            continue  # on another machine or in a container: not this workspace's neighbours
        out.append(decision)
        if decision.denied:
            break
    return out


def _where(path: str, zones: Zones) -> str:
    """A script's path as the user knows it: relative to the workspace when inside it."""
    if path.startswith(zones.workdir.rstrip("/") + "/"):
        return os.path.relpath(path, zones.workdir)
    return shown(path, zones)


def _unreadable_script(found: Finding, zones: Zones, policy: Policy) -> Decision | None:
    """A script the command runs whose text could not be analysed: asked about if it was
    written in this run; one already on disk is judged by the pieces of it that parse."""
    if found.origin == "disk":
        for piece in fragments(found.text, limit=400):
            try:
                analysis = analyze(piece, cwd=zones.workdir, home=zones.home)
            except ShellAnalysisError:
                continue
            decision = combine(_judge(analysis.events, zones, policy))
            if decision.denied:
                where = _where(found.detail.split(":", 1)[0], zones)
                return decision._replace(
                    reason=f"In {where}, which this command runs: {decision.reason}"
                )
        return None
    asked = ask(
        "unparseable",
        f"The command runs a program written in this run that could not be checked "
        f"({found.detail}). Run its commands one at a time, or have a human approve it.",
    )
    return Decision(policy.rule_action("unparseable"), asked.reason, asked.rule)


def _command_paths(cmd: Command, zones: Zones, policy: Policy) -> list[str]:
    """The paths a command names (arguments that look like paths, redirect targets), for the
    path lists of the policy files."""
    if not policy.has_path_rules:
        return []
    from llmos._internal.security.rules_secrets import path_candidates  # see _judge

    texts = [r.target for r in cmd.redirects]
    texts += [c for a in cmd.args for c in path_candidates(a) if "/" in c or c[:1] in ".~"]
    return [zones.locate(t, cmd.cwd) for t in texts if t and UNKNOWN not in t]


def _unanalysable(command: str, detail: str, zones: Zones, policy: Policy) -> Decision:
    listed = policy.match("commands", [command])
    if listed is not None and listed.action == "deny":
        return deny("policy-deny", _listed_reason(listed, "denies"))
    for piece in fragments(command):
        try:
            analysis = analyze(piece, cwd=zones.workdir, home=zones.home)
        except ShellAnalysisError:
            continue
        found = combine(_judge(analysis.events, zones, policy))
        if found.denied:
            note = " It was found inside a command that could not be fully parsed."
            return Decision("deny", found.reason + note, found.rule)
    asked = unparseable(detail)
    return Decision(policy.rule_action("unparseable"), asked.reason, asked.rule)


# ---------------------------------------------------------------------------------- tools


def _by_name(tool: str, policy: Policy) -> Decision:
    listed = policy.match("tools", [tool])
    if listed is not None and listed.action == "deny":
        return deny("policy-deny", _listed_reason(listed, "denies"))
    if listed is not None and listed.action == "ask":
        return ask("policy-ask", _listed_reason(listed, "asks a human about"))
    if listed is not None:
        return ALLOW
    if tool.startswith(MCP_PREFIX):
        rule = "unknown-mcp-tool"
        reason = (
            f"{tool} is not an llmos plugin tool, and this policy allows no other MCP tool. "
            "Use the tools you were given."
        )
    else:
        rule = "unknown-tool"
        reason = f"{tool} is a tool this policy does not know. Use the tools you were given."
    return Decision(policy.rule_action(rule), reason, rule)


def _by_input(
    tool: str,
    tool_input: Mapping[str, Any],
    zones: Zones,
    policy: Policy,
    files: RunFiles | None,
) -> Decision:
    if tool == "Bash":
        command = tool_input.get("command")
        if not isinstance(command, str):
            return deny("invalid-input", "Bash needs a 'command' string. Pass it as text.")
        return decide_command(command, zones, policy, files)
    key = FILE_TOOLS.get(tool) or READ_TOOLS.get(tool)
    if key is not None:
        path = tool_input.get(key)
        if not isinstance(path, str) or not path or "\0" in path:
            return deny("invalid-input", f"{tool} needs a '{key}'. Pass an absolute path.")
        resolved = _resolve(path, zones)
        if tool in FILE_TOOLS:
            hit = file_tool_verdict(tool, path, zones)
        else:
            hit = read_verdict(tool, resolved, zones)
        decision = settle([hit] if hit else [], policy, paths=[resolved], zones=zones)
        if files is not None and tool in FILE_TOOLS and not decision.denied:
            _remember(tool, tool_input, resolved, files)
        return decision
    if tool in SEARCH_TOOLS:
        return _search(tool, tool_input, zones, policy)
    return ALLOW


def _remember(tool: str, tool_input: Mapping[str, Any], path: str, files: RunFiles) -> None:
    """The text a file tool leaves in `path`, for the later calls of the run."""
    if tool == "Write":
        content = tool_input.get("content")
        files.remember(path, content if isinstance(content, str) else None)
    elif tool in ("Edit", "MultiEdit"):
        files.remember(path, files.edited(path, tool_input))
    else:
        files.remember(path, None)


def _resolve(path: str, zones: Zones) -> str:
    if path == "~" or path.startswith("~/"):
        path = zones.home + path[1:]
    return os.path.realpath(os.path.join(zones.workdir, path))


def _search(tool: str, tool_input: Mapping[str, Any], zones: Zones, policy: Policy) -> Decision:
    """Grep, Glob and LS: where they look, and for Glob what its pattern reaches."""
    where = tool_input.get("path") or "."
    if not isinstance(where, str) or "\0" in where:
        return deny("invalid-input", f"{tool}'s 'path' must be a folder or file path.")
    root = _resolve(where, zones)
    pattern = tool_input.get("pattern")
    if tool == "Glob" and isinstance(pattern, str) and pattern:
        fixed = os.path.dirname(pattern.split("*")[0].split("?")[0].split("[")[0])
        anchored = fixed.startswith(("/", "~"))
        root = _resolve(fixed if anchored else os.path.join(root, fixed), zones)
    here = shown(root, zones)
    # Grep reads what it searches; Glob and LS only list names.
    hit: Decision | None = read_verdict(tool, root, zones) if tool == "Grep" else None
    if hit is None and tool == "Grep" and holds_secrets(root, zones):
        hit = ask(
            "secret-search",
            f"Grep would search {here}, which holds credentials (~/.ssh, ~/.aws, ...). "
            "Search inside the workspace, or name the folder you need.",
        )
    if hit is None and tool != "Grep" and in_secret_folder(root, zones):
        hit = ask(
            "credential-listing",
            f"{tool} would list the files of {here}, a credentials folder. Leave credentials "
            "alone, or have a human approve it.",
        )
    return settle([hit] if hit else [], policy, paths=[root], zones=zones)
