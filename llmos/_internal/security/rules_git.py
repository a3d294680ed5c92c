"""Rules about git: force-pushing to or deleting a main branch (``--force``, ``+main``,
``--force-with-lease`` naming main, ``+refs/heads/*``, ``--mirror``, ``:main``), changing a
repository outside the workspace, and settings that make git run commands later.

The workspace's own git hooks are decided once, for shell commands and file tools alike:
writing ``.git/hooks/*`` (or ``.git/config``) in the workspace, or pointing ``core.hooksPath``
at a folder inside it, is asked about (soft rule ``git-hooks``); hooks or command settings
outside the workspace or in the global or system config are persistence (always denied).
A command setting of the workspace's own repository (``git config core.pager 'less -R'``)
is judged by the command it holds (`shell_programs`)."""

from __future__ import annotations

import os
import re

from llmos._internal.security.decision import Decision, deny
from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.rule_kit import applies_to, flag, positionals, words
from llmos._internal.security.shell_types import UNKNOWN, Command
from llmos._internal.security.verdicts import git_hooks
from llmos._internal.security.zones import Zones, shown, target, within

_MAIN_BRANCHES = words("main master trunk develop production prod release")
_GIT_MUTATING = words(
    "reset clean checkout restore rm mv push commit rebase merge pull stash switch am apply "
    "cherry-pick revert gc prune filter-branch filter-repo init update-ref worktree submodule "
    "reflog notes replace"
)
_GIT_CODE_KEYS = LazyRegex(
    r"core\.(sshcommand|pager|editor|hookspath|fsmonitor|askpass|gitproxy)|alias\.|credential\."
    r"|include(if)?\.|gpg\.\w*program|diff\..*(external|textconv|command)|filter\.|merge\..*driver"
    r"|sequence\.editor|url\..*insteadof|uploadpack\.|receive\.procreceiverefs|init\.templatedir"
    r"|pager\."
)
# Global settings that name a program the user runs by hand, harmless when they are a plain
# program with options (`core.editor "code --wait"`); or a credential helper by name.
_PLAIN_PROGRAM = LazyRegex(r"[\w./~+-]+(\s+[\w./=:+,-]+)*")
_HELPER_NAMES = LazyRegex(
    r"(store|cache|osxkeychain|manager|manager-core|libsecret|wincred|gnome-keyring)(\s+--\S+)*"
)
_INTERACTIVE_KEYS = ("core.editor", "core.pager", "sequence.editor")


@applies_to("git")
def _git(cmd: Command, zones: Zones) -> Decision | None:
    args, k = cmd.args, 0
    where = [cmd.cwd]  # the repository, and any --git-dir / --work-tree
    while k < len(args) and args[k].startswith("-"):
        opt, eq, value = args[k].partition("=")
        if opt in ("-C", "--git-dir", "--work-tree", "-c", "--namespace") and not eq:
            value = args[k + 1] if k + 1 < len(args) else ""
            k += 1
        if opt == "-C":
            where[0] = os.path.join(where[0], value)
        elif opt in ("--git-dir", "--work-tree"):
            where.append(os.path.join(where[0], value))
        k += 1
    sub, rest = (args[k] if k < len(args) else ""), args[k + 1 :]
    setting = sub == "config" and _config_sets(rest)
    for w in where if sub in _GIT_MUTATING or setting else []:
        t = target(w, cmd, zones)
        if t and not t.guessed and zones.zone(t.path) not in ("workdir", "temp"):
            return deny(
                "git-outside-workdir",
                f"`git {sub}` would change the repository at {shown(t.path, zones)}, outside "
                f"the workspace. Run git only on the repository inside {zones.workdir}.",
            )
    if setting:
        return _config(cmd, rest, where[0], zones)
    if sub == "push":
        return _push(rest)
    if sub == "branch" and (flag(rest, "d", "--delete") or flag(rest, "D")):
        hit = _MAIN_BRANCHES & set(positionals(rest))
        return _main(f"git branch -D {min(hit)}", min(hit)) if hit else None
    return None


def _config_sets(rest: tuple[str, ...]) -> bool:
    if any(a.startswith(("--get", "--list", "-l", "--show")) for a in rest):
        return False
    changes = ("--unset", "--add", "--replace", "--remove-section", "--rename-section", "-e")
    return len(_config_operands(rest)) >= 2 or any(a.startswith(changes) for a in rest)


def _config_operands(rest: tuple[str, ...]) -> list[str]:
    return positionals(rest, ["--file", "-f", "--blob", "--type", "--default", "--comment"])


def _config(cmd: Command, rest: tuple[str, ...], repo: str, zones: Zones) -> Decision | None:
    """``git config KEY VALUE``: where the setting is kept, and what it makes git run."""
    operands = _config_operands(rest)
    key = (operands[:1] or [""])[0].lower()
    value = operands[1] if len(operands) > 1 else ""
    files = [a.split("=", 1)[1] for a in rest if a.startswith("--file=")]
    files += [rest[k + 1] for k, a in enumerate(rest[:-1]) if a in ("--file", "-f")]
    shared = any(a in ("--global", "--system") for a in rest) or any(
        zones.zone(zones.locate(f, repo)) not in ("workdir", "temp") for f in files
    )
    if not _GIT_CODE_KEYS.match(key) or any(a.startswith(("--unset", "--remove")) for a in rest):
        return None  # not a command setting, or one being removed
    if key == "core.hookspath" and not shared:
        hooks = zones.locate(value, repo) if value and UNKNOWN not in value else ""
        if hooks and (zones.zone(hooks) == "sink" or within(hooks, zones.workdir)):
            return git_hooks(f"`git config core.hooksPath {value}`", shown(hooks, zones), zones)
        shared = True  # hooks kept outside the workspace
    if not shared:
        return None  # the workspace's own repository: judged by what the value runs
    if key.startswith("alias.") and not value.lstrip().startswith("!"):
        return None  # git arguments, not a command
    if key in _INTERACTIVE_KEYS and _PLAIN_PROGRAM.fullmatch(value.strip()):
        first = value.split()[0].rsplit("/", 1)[-1] if value.split() else ""
        if first not in ("sh", "bash", "zsh", "dash", "python", "python3", "perl", "ruby", "node"):
            return None
    if key.startswith("credential.") and _HELPER_NAMES.fullmatch(value.strip()):
        return None
    return deny(
        "persistence",
        f"`git config {key}` would make git run a command of your choosing later, outside "
        "this workspace's repository (persistence). Leave git's command settings alone; ask "
        "the user.",
    )


def _push(rest: tuple[str, ...]) -> Decision | None:
    refspecs = positionals(rest, "--repo -o --push-option --receive-pack --exec".split())[1:]
    force = any(re.fullmatch(r"--force(=.*)?|-[A-Za-z]*f[A-Za-z]*", a) for a in rest) or any(
        r.startswith("+") for r in refspecs
    )
    lease = any(a.startswith(("--force-with-lease", "--force-if-includes")) for a in rest)
    delete = "--delete" in rest or flag(rest, "d") or any(r.startswith(":") for r in refspecs)
    targets = {r.lstrip("+").rsplit(":", 1)[-1].removeprefix("refs/heads/") for r in refspecs}
    hit = set(_MAIN_BRANCHES & targets)
    if not hit and any("*" in t for t in targets) and (force or delete):
        hit = {"every branch (main included)"}  # +refs/heads/*:refs/heads/*
    what = "git push " + " ".join(rest)
    if (force or delete or lease) and hit:
        return _main(what, min(hit))
    if "--mirror" in rest:
        return _main(what, "every branch, main included (--mirror overwrites and deletes)")
    if force and ("--all" in rest or not refspecs or "HEAD" in targets):
        return _main(what, "the current branch (maybe main) or every branch")
    return None


def _main(what: str, branch: str) -> Decision:
    return deny(
        "git-force-main",
        f"`{what}` would force-push to or delete {branch}, rewriting shared history. Push to "
        "a feature branch named explicitly (--force-with-lease on your own branch is fine).",
    )
