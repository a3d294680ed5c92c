"""The built-in rules applied to one simple command the shell analysis found (and to the
structural findings: fork bombs, downloaded or decoded code run).

`command_hits` lists what the rules object to, hard verdicts first; deciding what that means
under the user's policy (deny, ask, or lifted by an allow entry) is
`llmos._internal.security.engine`'s job."""

from __future__ import annotations

from llmos._internal.security import (
    rules_code,
    rules_files,
    rules_git,
    rules_network,
    rules_secrets,
    rules_system,
)
from llmos._internal.security.decision import Decision, ask, deny
from llmos._internal.security.rule_kit import BY_NAME, Check
from llmos._internal.security.shell_types import UNKNOWN, Command, Finding
from llmos._internal.security.verdicts import read_verdict, reverse_shell, write_verdict
from llmos._internal.security.zones import Zones, target

# The checks every command gets, before the ones registered for its name.
_GENERAL: tuple[Check, ...] = (
    rules_secrets.secrets,
    rules_secrets.secret_env,
    rules_code.history,
    rules_code.inline_code,
)
assert rules_files and rules_git and rules_network  # imported for their registrations


def finding_decision(f: Finding, zones: Zones) -> Decision:
    if f.rule == "fork-bomb":
        return deny("fork-bomb", f"The command defines a fork bomb ({f.detail}). Don't run it.")
    if f.rule == "persistence":
        return deny(
            "persistence",
            f"The command sets up something that runs later on its own ({f.detail}). Don't "
            "set up persistence; tell the user what should be scheduled.",
        )
    if f.rule == "obfuscated-exec":
        return deny(
            "obfuscated-exec",
            f"The command hides what it runs: {f.detail}. Run the decoded commands directly, "
            "as plain text, so they can be checked.",
        )
    return deny(
        "pipe-to-shell",
        f"The command runs code nobody has reviewed: {f.detail}. Save it to a file inside "
        f"{zones.workdir}, read it, then run it as a separate command.",
    )


def command_hits(cmd: Command, zones: Zones) -> list[Decision]:
    """Every objection of the built-in rules to `cmd`, in the order the rules found them."""
    hits: list[Decision] = []
    name = cmd.name or "redirection"
    for r in cmd.redirects:
        t = target(r.target, cmd, zones)
        if t is None:
            continue
        if zones.zone(t.path) == "network":
            return [reverse_shell(name, f"it opens {t.path}")]
        hit = write_verdict(name, t, zones) if r.writes else read_verdict(name, t.path, zones)
        if hit is not None:
            hits.append(hit)
    if UNKNOWN in cmd.name:
        shown = cmd.name.replace(UNKNOWN, "$…")
        hits.append(
            ask(
                "dynamic-command",
                f"The command to run ({shown}) is only known at run time, so it cannot be "
                "checked. Write the command name literally, or have a human approve it.",
            )
        )
        return hits
    if "--help" in cmd.args or "--version" in cmd.args:
        return hits
    specific = BY_NAME.get(cmd.name) or ([rules_system.disk] if cmd.name.startswith("mkfs") else [])
    for check in (*_GENERAL, *specific):
        hit = check(cmd, zones)
        if hit is not None:
            hits.append(hit)
    return hits
