"""The first security policy of llmos: allow or deny one tool call before it runs.

Shell commands are parsed by `llmos.security.shell`; every simple command found (however deeply
nested or wrapped) is checked against the rules below, which are about *where* a command acts
(inside the workspace, in scratch space, or elsewhere) and *what kind* of act it is (deleting,
writing, running downloaded code, ...). File tools are checked on their resolved path. Anything
that cannot be analysed is denied ("unparseable"); a later engine will turn that into "ask".

Pure Python and fast: no SDK import, no I/O beyond resolving paths.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from llmos.security.shell import (
    NETWORK_TOOLS,
    UNKNOWN,
    Command,
    Finding,
    ShellAnalysisError,
    analyze,
)

__all__ = ["RULES", "Action", "Decision", "check_command", "check_tool_call"]

logger = logging.getLogger(__name__)

Action = Literal["allow", "deny"]


@dataclass(frozen=True)
class Decision:
    """The verdict on one tool call. `rule` is a stable id (see `RULES`); `reason` is a
    sentence addressed to the model, saying what was wrong and what to do instead."""

    action: Action
    reason: str
    rule: str

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


RULES: Mapping[str, str] = MappingProxyType(
    {
        "none": "no rule forbids the call",
        "rm-protected-path": "deletes /, the home folder, a system folder or a folder above the workspace",
        "delete-outside-workdir": "deletes something outside the workspace and scratch space",
        "write-outside-workdir": "writes or changes a file outside the workspace",
        "persistence": "changes shell start-up files, authorized_keys, cron or services",
        "history-tampering": "clears or hides shell history or system logs",
        "chmod-protected-path": "changes permissions or owner of a protected location",
        "setuid": "sets the setuid/setgid bit",
        "disk-wipe": "writes to, formats or wipes a disk device",
        "fork-bomb": "starts processes without bound",
        "kill-all": "signals every process or init",
        "shutdown": "shuts down or reboots the machine",
        "pipe-to-shell": "runs code downloaded or produced by another command without review",
        "obfuscated-exec": "runs code hidden by an encoding (base64, hex)",
        "dynamic-command": "runs a command whose name is only known at run time",
        "credential-access": "reads credentials or cloud instance metadata",
        "secret-env": "prints secret environment variables or the whole environment",
        "network-upload": "uploads a file from outside the workspace",
        "reverse-shell": "connects a shell to the network",
        "container-escape": "gives a container access to the host",
        "git-force-main": "force-pushes to or deletes a main branch",
        "git-outside-workdir": "changes a git repository outside the workspace",
        "remove-system-packages": "removes system packages",
        "system-admin": "changes system accounts or kernel settings",
        "invalid-input": "the tool input is malformed",
        "unparseable": "the command could not be analysed",
    }
)

ALLOW = Decision("allow", "No rule of the security policy forbids this call.", "none")
_FILE_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}


def check_tool_call(
    tool_name: str, tool_input: Mapping[str, Any], *, workdir: Path, home: Path | None = None
) -> Decision:
    """Decide on one Claude Code tool call. Tools other than Bash and the file-writing tools
    are allowed by this first policy."""
    try:
        if tool_name == "Bash":
            command = tool_input.get("command")
            if not isinstance(command, str):
                return _deny(
                    "invalid-input", "Bash needs a 'command' string. Pass the command as text."
                )
            return check_command(command, workdir=workdir, home=home)
        key = _FILE_TOOLS.get(tool_name)
        if key is None:
            return ALLOW
        path = tool_input.get(key)
        if not isinstance(path, str) or not path or "\0" in path:
            return _deny(
                "invalid-input", f"{tool_name} needs a '{key}' path. Pass an absolute path."
            )
        return _check_file_tool(tool_name, path, _zones(workdir, home))
    except Exception:
        logger.warning("security policy failed on a %s call", tool_name, exc_info=True)
        return _unparseable("internal error of the policy")


def check_command(command: str, *, workdir: Path, home: Path | None = None) -> Decision:
    """Decide on a shell command run by bash in `workdir`."""
    try:
        zones = _zones(workdir, home)
        analysis = analyze(command, cwd=zones.workdir, home=zones.home)
        for event in analysis.events:
            if isinstance(event, Finding):
                return _finding(event, zones)
            decision = _check(event, zones)
            if decision is not None:
                return decision
        return ALLOW
    except ShellAnalysisError as exc:
        return _unparseable(str(exc))
    except Exception:  # fail closed, and keep the command itself out of the log
        logger.warning("security policy failed on a command", exc_info=True)
        return _unparseable("internal error of the policy")


def _deny(rule: str, reason: str) -> Decision:
    return Decision("deny", reason, rule)


def _unparseable(detail: str) -> Decision:
    return _deny(
        "unparseable",
        f"The command could not be checked ({detail}). Rewrite it as a simpler command "
        "(plain words, one step at a time, no unusual shell syntax).",
    )


# ------------------------------------------------------------------------------------ paths

Zone = Literal["workdir", "temp", "sink", "network", "device", "protected", "outside"]
_SYSTEM = [
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/boot",
    "/var",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/root",
    "/sys",
    "/proc",
    "/dev",
    "/srv",
    "/snap",
    "/run",
    "/mnt",
    "/media",
    "/nix",
    "/System",
    "/Library",
    "/Applications",
    "/private",
    "/cores",
    "/Volumes",
]
_SINKS = frozenset(
    [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/stdin",
        "/dev/tty",
    ]
)
_BLOCK_DEVICE = re.compile(
    r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|md\d|dm-|loop|sr\d|nbd|zd|mapper/|root|fd\d|mtd|sg\d|ram)"
)
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class _Zones:
    workdir: str
    home: str
    temps: tuple[str, ...]

    def locate(self, text: str, cwd: str, *, follow_last: bool = True) -> str:
        lexical = os.path.normpath(os.path.join(cwd, text))
        if lexical.startswith(("/dev/", "/proc/")):
            return lexical
        head, tail = os.path.split(lexical)
        if follow_last or not tail:
            return os.path.realpath(lexical)
        return os.path.join(os.path.realpath(head), tail)

    def zone(self, path: str) -> Zone:
        if _within(path, self.workdir):
            return "workdir"
        if path in _SINKS or re.match(r"^/(dev|proc/self)/fd/\d+$|^/dev/pts/", path):
            return "sink"
        if path.startswith(("/dev/tcp/", "/dev/udp/")):
            return "network"
        if _BLOCK_DEVICE.match(path):
            return "device"
        if path == "/" or _within(self.home, path) or _within(self.workdir, path):
            return "protected"
        if _within(path, self.home):
            return "outside"
        if any(_within(path, t) and path != t for t in self.temps):
            return "temp"
        if any(_within(path, s) for s in _SYSTEM):
            return "protected"
        return "outside"


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@functools.lru_cache(maxsize=32)
def _zones_for(workdir: str, home: str) -> _Zones:
    temps = {
        "/tmp",
        "/var/tmp",
        "/dev/shm",
        tempfile.gettempdir(),
        os.environ.get("TMPDIR", "/tmp"),
    }
    real = tuple(sorted({os.path.realpath(t) for t in temps if t} | {t for t in temps if t}))
    return _Zones(os.path.realpath(workdir), os.path.realpath(home), real)


def _zones(workdir: Path, home: Path | None) -> _Zones:
    return _zones_for(os.fspath(workdir), os.fspath(home if home is not None else Path.home()))


@dataclass(frozen=True)
class _Target:
    path: str
    children: bool  # a glob: what is acted on are entries inside `path`
    guessed: bool  # run-time parts were dropped (an unset variable would give this path)


def _target(text: str, cmd: Command, zones: _Zones, *, follow_last: bool = True) -> _Target | None:
    guessed = UNKNOWN in text
    if guessed:
        text = text.replace(UNKNOWN, "")
        if not text.strip() or text.startswith(("-", "=")):
            return None
    parts = text.split("/")
    glob_at = next((k for k, p in enumerate(parts) if _GLOB.search(p)), None)
    children = glob_at is not None
    if glob_at is not None:
        if parts[glob_at].startswith(".") and fnmatch.fnmatch("..", parts[glob_at]):
            parts[glob_at] = ".."  # `.*` matched `..` in older shells
            children = False
        text = "/".join(parts[: glob_at + (not children)]) or ("/" if text.startswith("/") else ".")
    return _Target(zones.locate(text, cmd.cwd, follow_last=follow_last), children, guessed)


def _shown(path: str, zones: _Zones) -> str:
    if path != zones.home and _within(path, zones.home) and not _within(path, zones.workdir):
        return "~" + path[len(zones.home.rstrip("/")) :]
    return path


def _what(path: str, zones: _Zones) -> str:
    if path == "/":
        return "the root of the file system"
    if _within(zones.home, path):
        return (
            "your home folder" if path == zones.home else "a folder that contains your home folder"
        )
    if path == zones.workdir:
        return "the workspace itself"
    if _within(zones.workdir, path):
        return "a folder that contains the workspace"
    return "a system location"


_RC_FILES = frozenset(
    [
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".bash_logout",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        ".zlogin",
        ".zlogout",
        ".kshrc",
        ".cshrc",
        ".tcshrc",
        ".xinitrc",
        ".xprofile",
        ".xsessionrc",
        ".pam_environment",
        ".inputrc",
        "authorized_keys",
        "authorized_keys2",
        "crontab",
    ]
)
_PERSISTENT_DIRS = re.compile(
    r"/\.ssh/rc$|/\.config/(autostart|systemd|fish)/|/\.local/share/systemd/|/Library/Launch(Agents|Daemons)/"
    r"|^/etc/(profile|bash|zsh|cron|systemd|init|rc|ld\.so\.preload|sudoers|ssh/|environment)"
    r"|^/var/spool/cron|^/usr/lib/systemd/|^/lib/systemd/"
)
_HISTORY = re.compile(
    r"(^|/)\.?\w*_?history$|^/var/log(/|$)|/(wtmp|btmp|lastlog|utmp)$|/\.lesshst$"
)


def _delete_verdict(name: str, t: _Target, zones: _Zones) -> Decision | None:
    zone = zones.zone(t.path)
    if t.path == zones.workdir and not t.children:
        zone = "protected"
    elif zone in ("workdir", "temp") or (t.children and t.path in zones.temps):
        return None
    shown = _shown(t.path, zones)
    if zone == "device":
        return _deny("disk-wipe", _disk_reason(name, t.path, zones))
    if _HISTORY.search(t.path):
        return _deny("history-tampering", _history_reason(name, shown))
    if zone in ("protected", "sink"):
        what = ("the contents of " if t.children else "") + shown
        maybe = " if a variable in it is empty" if t.guessed else ""
        return _deny(
            "rm-protected-path",
            f"`{name}` would delete {what}{maybe}: {_what(t.path, zones)}. "
            f"Delete only paths inside {zones.workdir} (or scratch space under /tmp).",
        )
    if t.guessed:
        return None
    return _deny(
        "delete-outside-workdir",
        f"`{name}` would delete {shown}, which is outside the workspace. "
        f"Choose a path inside {zones.workdir} instead.",
    )


def _write_verdict(name: str, t: _Target, zones: _Zones) -> Decision | None:
    zone = zones.zone(t.path)
    if zone in ("workdir", "temp", "sink") or t.path in zones.temps:
        return None
    shown = _shown(t.path, zones)
    if zone == "device":
        return _deny("disk-wipe", _disk_reason(name, t.path, zones))
    if zone == "network":
        return _reverse_shell(name, f"it redirects to {t.path}")
    if t.guessed and zone != "protected":
        return None
    if _HISTORY.search(t.path):
        return _deny("history-tampering", _history_reason(name, shown))
    if os.path.basename(t.path) in _RC_FILES or _PERSISTENT_DIRS.search(t.path):
        return _deny(
            "persistence",
            f"`{name}` would change {shown}, a file that runs code at login or on a schedule "
            f"(persistence). Keep changes inside {zones.workdir}; ask the user to edit their "
            "own configuration.",
        )
    return _deny(
        "write-outside-workdir",
        f"`{name}` would write to {shown}, outside the workspace. "
        f"Choose a path inside {zones.workdir} instead.",
    )


def _disk_reason(name: str, path: str, zones: _Zones) -> str:
    return (
        f"`{name}` would overwrite, format or wipe the disk device {path}. Work on files instead "
        f"(for example a disk image inside {zones.workdir})."
    )


def _history_reason(name: str, shown: str) -> str:
    return (
        f"`{name}` would erase or rewrite shell history or system logs ({shown}). Leave them alone."
    )


def _reverse_shell(name: str, how: str) -> Decision:
    return _deny(
        "reverse-shell",
        f"`{name}` would connect a shell to the network ({how}): a reverse or bind shell. "
        "Use ordinary clients such as curl for network access.",
    )


def _check_file_tool(tool: str, path: str, zones: _Zones) -> Decision:
    if path == "~" or path.startswith("~/"):
        path = zones.home + path[1:]
    lexical = os.path.normpath(os.path.join(zones.workdir, path))
    resolved = os.path.realpath(lexical)
    if _within(resolved, zones.workdir):
        return ALLOW
    via = " through a symbolic link" if _within(lexical, zones.workdir) else ""
    return _deny(
        "write-outside-workdir",
        f"{tool} would write {_shown(resolved, zones)}{via}, outside the workspace. "
        f"Choose a path inside {zones.workdir} instead.",
    )


# ----------------------------------------------------------------------------- the checks


def _finding(f: Finding, zones: _Zones) -> Decision:
    if f.rule == "fork-bomb":
        return _deny("fork-bomb", f"The command defines a fork bomb ({f.detail}). Don't run it.")
    if f.rule == "obfuscated-exec":
        return _deny(
            "obfuscated-exec",
            f"The command hides what it runs: {f.detail}. Run the decoded commands directly, "
            "as plain text, so they can be checked.",
        )
    return _deny(
        "pipe-to-shell",
        f"The command runs code nobody has reviewed: {f.detail}. Save it to a file inside "
        f"{zones.workdir}, read it, then run it as a separate command.",
    )


Check = Callable[[Command, _Zones], "Decision | None"]


def _check(cmd: Command, zones: _Zones) -> Decision | None:
    if UNKNOWN in cmd.name:
        shown = cmd.name.replace(UNKNOWN, "$…")
        return _deny(
            "dynamic-command",
            f"The command to run ({shown}) is only known at run time, so it cannot be checked. "
            "Write the command name literally.",
        )
    name = cmd.name or "redirection"
    for r in cmd.redirects:
        target = _target(r.target, cmd, zones)
        if target is None:
            continue
        if zones.zone(target.path) == "network":
            return _reverse_shell(name, f"it opens {target.path}")
        verdict = _write_verdict(name, target, zones) if r.writes else None
        decision = verdict or _read_verdict(name, target.path, zones)
        if decision:
            return decision
    if any(a in ("--help", "--version") for a in cmd.args):
        return None
    specific = _BY_NAME.get(cmd.name) or ((_disk,) if cmd.name.startswith("mkfs") else ())
    for check in (*_GENERIC, *specific):
        decision = check(cmd, zones)
        if decision is not None:
            return decision
    return None


def _positionals(args: Iterable[str], value_opts: Iterable[str] = ()) -> list[str]:
    """Operands of a command, skipping options and the values of `value_opts`."""
    takes = frozenset(value_opts)
    out, skip, ended = [], False, False
    for a in args:
        if skip:
            skip = False
        elif ended or not a.startswith("-") or a == "-":
            out.append(a)
        elif a == "--":
            ended = True
        elif a in takes:
            skip = True
    return out


def _option_values(args: tuple[str, ...], *names: str) -> list[str]:
    """Values given to the options `names` (``-o v``, ``-ov``, ``--out=v``, ``--out v``)."""
    out = []
    for k, a in enumerate(args):
        for n in names:
            if a == n and k + 1 < len(args):
                out.append(args[k + 1])
            elif n.startswith("--") and a.startswith(n + "="):
                out.append(a[len(n) + 1 :])
            elif (
                len(n) == 2
                and not n.startswith("--")
                and a.startswith(n)
                and len(a) > 2
                and a[1] != "-"
            ):
                out.append(a[2:])
    return out


def _flag(args: Iterable[str], short: str, *long: str) -> bool:
    return any(
        a in long or (re.fullmatch(r"-[A-Za-z0-9]+", a) is not None and short in a[1:])
        for a in args
    )


def _each(
    verdict: Callable[[str, _Target, _Zones], Decision | None],
    cmd: Command,
    texts: Iterable[str],
    zones: _Zones,
    *,
    children: bool = False,
    follow_last: bool = True,
) -> Decision | None:
    for text in texts:
        t = _target(text, cmd, zones, follow_last=follow_last)
        if t is not None:
            if children and not t.children:
                t = _Target(t.path, True, t.guessed)
            decision = verdict(cmd.name, t, zones)
            if decision is not None:
                return decision
    return None


# -- deleting and writing ------------------------------------------------------------------


def _rm(cmd: Command, zones: _Zones) -> Decision | None:
    value_opts = (
        {"-n", "-s", "--iterations", "--size", "--random-source"} if cmd.name == "shred" else ()
    )
    return _each(_delete_verdict, cmd, _positionals(cmd.args, value_opts), zones, follow_last=False)


def _find(cmd: Command, zones: _Zones) -> Decision | None:
    if not {"-delete", "-fdelete"} & set(cmd.args):
        return None
    roots = []
    for a in cmd.args:
        if a.startswith("-") or a in ("(", "!"):
            break
        roots.append(a)
    return _each(_delete_verdict, cmd, roots or ["."], zones, children=True)


_MOVE_OPTS = ("-t", "--target-directory", "-S", "--suffix")


def _destination(cmd: Command, operands: list[str]) -> tuple[list[str], list[str]]:
    """(sources, destinations) of cp/mv/install/ln-like commands."""
    target = _option_values(cmd.args, "-t", "--target-directory")
    if target:
        return operands, target
    if len(operands) >= 2:
        return operands[:-1], operands[-1:]
    return operands, []


def _mv(cmd: Command, zones: _Zones) -> Decision | None:
    sources, dest = _destination(cmd, _positionals(cmd.args, _MOVE_OPTS))
    return _each(_delete_verdict, cmd, sources, zones, follow_last=False) or _each(
        _write_verdict, cmd, dest, zones
    )


def _cp(cmd: Command, zones: _Zones) -> Decision | None:
    value_opts = (*_MOVE_OPTS, "-m", "--mode", "-o", "--owner", "-g", "--group")
    operands = _positionals(cmd.args, value_opts)
    if cmd.name == "install":
        for mode in _option_values(cmd.args, "-m", "--mode"):
            if _is_setuid(mode):
                return _setuid(cmd.name)
        if _flag(cmd.args, "d", "--directory"):
            return _each(_write_verdict, cmd, operands, zones)
    _, dest = _destination(cmd, operands)
    return _each(_write_verdict, cmd, dest, zones, follow_last=cmd.name != "ln")


def _writes_operands(value_opts: tuple[str, ...]) -> Check:
    def check(cmd: Command, zones: _Zones) -> Decision | None:
        return _each(_write_verdict, cmd, _positionals(cmd.args, value_opts), zones)

    return check


def _sed(cmd: Command, zones: _Zones) -> Decision | None:
    if not any(a.startswith("--in-place") or re.fullmatch(r"-[A-Za-z]*i.*", a) for a in cmd.args):
        return None
    operands = _positionals(cmd.args, ("-e", "-f", "--expression", "--file", "-l", "--line-length"))
    if not _option_values(cmd.args, "-e", "-f", "--expression", "--file"):
        operands = operands[1:]
    return _each(_write_verdict, cmd, operands, zones)


def _dd(cmd: Command, zones: _Zones) -> Decision | None:
    outputs = [a[3:] for a in cmd.args if a.startswith("of=")]
    return _each(_write_verdict, cmd, outputs, zones)


def _rsync(cmd: Command, zones: _Zones) -> Decision | None:
    value_opts = [
        "-e",
        "--rsh",
        "--exclude",
        "--include",
        "--filter",
        "-f",
        "--files-from",
        "--log-file",
        "--backup-dir",
        "--link-dest",
        "--compare-dest",
        "--copy-dest",
        "--partial-dir",
        "--temp-dir",
        "-T",
        "--password-file",
        "--chmod",
        "--chown",
        "--exclude-from",
        "--include-from",
        "-B",
        "--block-size",
        "--max-size",
        "--min-size",
        "--timeout",
        "--port",
        "--bwlimit",
        "-i",
        "-P",
        "-F",
        "-o",
        "-c",
        "-l",
        "-S",
        "-J",
    ]
    operands = _positionals(cmd.args, value_opts)
    if len(operands) < 2:
        return None
    sources, dest = operands[:-1], operands[-1]
    if re.match(r"^[^/]*:", dest):  # host:path, uploading
        return _upload(cmd, [s for s in sources if not re.match(r"^[^/]*:", s)], zones)
    if re.match(r"^[^/]*:", sources[0]):
        return _each(_write_verdict, cmd, [dest], zones)
    deletes = any(a.startswith("--delete") or a == "--remove-source-files" for a in cmd.args)
    if deletes:
        return _each(_delete_verdict, cmd, [dest], zones, children=True)
    return _each(_write_verdict, cmd, [dest], zones)


def _tar(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    first = args[0] if args else ""
    modes = first.lstrip("-") if re.fullmatch(r"-?[A-Za-z]+", first) else ""
    modes += "".join(a[1:] for a in args[1:] if re.fullmatch(r"-[A-Za-z]+", a))
    archive = _option_values(args, "--file")
    for k, a in enumerate(args[:-1]):
        if re.fullmatch(r"-?[A-Za-z]*f", a) and (k == 0 or a.startswith("-")):
            archive.append(args[k + 1])
    if "x" in modes or {"--extract", "--get"} & set(args):
        return _each(_write_verdict, cmd, _option_values(args, "-C", "--directory"), zones)
    if set("cru") & set(modes) or {"--create", "--append", "--update"} & set(args):
        return _each(_write_verdict, cmd, [a for a in archive if a != "-"], zones)
    return None


def _unzip(cmd: Command, zones: _Zones) -> Decision | None:
    return _each(_write_verdict, cmd, _option_values(cmd.args, "-d"), zones)


# -- permissions ---------------------------------------------------------------------------


def _is_setuid(mode: str) -> bool:
    if re.fullmatch(r"0*[0-7]{4}", mode):
        return int(mode[-4]) & 6 != 0
    return any(re.search(r"[+=][rwxXt]*s", part) for part in mode.split(","))


def _setuid(name: str) -> Decision:
    return _deny(
        "setuid",
        f"`{name}` would set the setuid/setgid bit, letting a program run with its owner's "
        "privileges. Use ordinary permissions such as 755.",
    )


def _chmod(cmd: Command, zones: _Zones) -> Decision | None:
    value_opts = {
        "setfacl": "-m -M -x -X --modify --modify-file --remove --remove-file --set --set-file",
        "chattr": "-v -p",
    }.get(cmd.name, "--from").split()
    operands = _positionals(cmd.args, value_opts)
    if cmd.name in ("chmod", "chown", "chgrp", "chattr") and not any(
        a.startswith("--reference") for a in cmd.args
    ):
        mode, operands = (operands[0] if operands else ""), operands[1:]
        if cmd.name == "chmod" and _is_setuid(mode):
            return _setuid(cmd.name)
    recursive = _flag(cmd.args, "R", "--recursive")
    for text in operands:
        t = _target(text, cmd, zones)
        if t is None:
            continue
        zone = zones.zone(t.path)
        if zone in ("protected", "device", "sink"):
            return _deny(
                "chmod-protected-path",
                f"`{cmd.name}` would change permissions or ownership of {_shown(t.path, zones)}"
                f"{' recursively' if recursive else ''}: {_what(t.path, zones)}. "
                f"Only change files inside {zones.workdir}.",
            )
        if zone == "outside" and not t.guessed:
            return _write_verdict(cmd.name, t, zones)
    return None


# -- reading secrets and sending data out ---------------------------------------------------

_READ_EXEMPT = frozenset(
    [
        "ls",
        "stat",
        "file",
        "du",
        "df",
        "test",
        "[",
        "which",
        "type",
        "realpath",
        "readlink",
        "basename",
        "dirname",
        "touch",
        "mkdir",
        "chmod",
        "chown",
        "chgrp",
        "ssh",
        "ssh-add",
        "ssh-keygen",
        "ssh-copy-id",
        "find",
        "tree",
        "echo",
        "printf",
        "rm",
        "rmdir",
        "mv",
        "ln",
        "cd",
        "pushd",
        "command",
    ]
)
_SSH_PUBLIC = re.compile(r"\.pub$|^known_hosts|^config$|^authorized_keys|^environment$")
_SECRET_FILES = re.compile(
    r"/\.aws(/|$)|/\.gnupg(/|$)|/\.kube(/config)?$|/\.kube/|/\.docker/config\.json$"
    r"|/\.git-credentials$|/\.netrc$|/\.pgpass$|/\.npmrc$|/\.pypirc$|/\.vault-token$"
    r"|/\.password-store(/|$)|/\.config/(gh|hub|gcloud)(/|$)|/\.azure(/|$)|/\.cargo/credentials"
    r"|/\.gem/credentials$|/\.terraform\.d/credentials|/\.local/share/keyrings|/Library/Keychains"
    r"|^/etc/(g?shadow-?|sudoers|master\.passwd)$|^/etc/ssh/ssh_host_[^/]*_key$|^/etc/ssl/private"
    r"|^/proc/[^/]+/environ$|^/var/run/secrets|^/run/secrets"
)
_METADATA = re.compile(
    r"169\.254\.169\.254|169\.254\.170\.2|metadata\.google\.internal|100\.100\.100\.200|fd00:ec2::254"
)
_SECRET_VAR = re.compile(
    r"(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|APIKEY|API_KEY|ACCESS_KEY|PRIVATE_KEY)(_|$)",
    re.IGNORECASE,
)
_PRINTERS = frozenset(["echo", "printf", "printenv", "print", "cat", "tee", "logger"])


def _is_secret(path: str, zones: _Zones) -> bool:
    if zones.zone(path) == "workdir":
        return False
    base = os.path.basename(path)
    ssh = re.search(r"/\.ssh(/|$)", path)
    if ssh and (path.endswith("/.ssh") or not _SSH_PUBLIC.search(base)):
        return True
    return bool(_SECRET_FILES.search(path)) or base == ".env" or base.startswith(".env.")


def _read_verdict(name: str, path: str, zones: _Zones) -> Decision | None:
    if not _is_secret(path, zones):
        return None
    return _deny(
        "credential-access",
        f"`{name}` would read credentials ({_shown(path, zones)}). Don't read secrets; ask the "
        "user for what you need, or use the tool that consumes the credential directly.",
    )


def _path_candidates(arg: str) -> Iterable[str]:
    if not arg or "://" in arg:
        return
    if not arg.startswith("-"):
        yield arg
    for sep in ("=", "@", "<"):
        if sep in arg:
            yield arg.split(sep, 1)[1]


def _secrets(cmd: Command, zones: _Zones) -> Decision | None:
    if any(_METADATA.search(a) for a in cmd.args):
        return _deny(
            "credential-access",
            f"`{cmd.name}` would query the cloud instance metadata service, which hands out "
            "credentials. Don't; ask the user for what you need.",
        )
    if cmd.name in _READ_EXEMPT:
        return None
    sources = [cmd.stdin.text] if cmd.stdin and cmd.stdin.kind == "file" else []
    for text in [*sources, *(c for a in cmd.args for c in _path_candidates(a))]:
        if "/" not in text and not text.startswith((".", "~")):
            continue
        t = _target(text, cmd, zones)
        if t is not None and not t.guessed:
            decision = _read_verdict(cmd.name, t.path, zones)
            if decision:
                return decision
    return None


def _secret_env(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args)
    if cmd.name == "env":
        dumps = all("=" in o for o in operands)
    elif cmd.name in ("export", "declare", "typeset"):
        dumps = not operands and (not cmd.args or bool(set(cmd.args) & {"-p", "-x"}))
    else:
        dumps = (cmd.name == "printenv" and not operands) or (cmd.name == "set" and not cmd.args)
    if dumps:
        return _deny(
            "secret-env",
            f"`{cmd.name}` would print the whole environment, which holds secrets such as API keys. "
            "Print only the variable you need (printenv NAME), if it is not a secret.",
        )
    names = {v for v in cmd.variables if _SECRET_VAR.search(v)}
    if cmd.name == "printenv":
        names |= {a for a in operands if _SECRET_VAR.search(a)}
    if cmd.name in NETWORK_TOOLS:
        headers = {"-H", "--header", "--proxy-header", "-u", "--user", "--oauth2-bearer"}
        names = set()
        for k, arg in enumerate(cmd.argv):
            before = cmd.args[k - 1] if k else ""
            if before not in headers and not arg.text.startswith(("--header=", "Authorization:")):
                names |= {v for v in arg.variables if _SECRET_VAR.search(v)}
    elif cmd.name not in _PRINTERS:
        return None
    if not names:
        return None
    return _deny(
        "secret-env",
        f"`{cmd.name}` would print or send the secret variable(s) {', '.join(sorted(names))}. "
        "Use secrets only where they are needed, without printing or sending them elsewhere.",
    )


def _upload(cmd: Command, files: Iterable[str], zones: _Zones) -> Decision | None:
    for text in files:
        t = _target(text, cmd, zones)
        if t is None or t.guessed:
            continue
        decision = _read_verdict(cmd.name, t.path, zones)
        if decision:
            return decision
        if zones.zone(t.path) not in ("workdir", "temp"):
            return _deny(
                "network-upload",
                f"`{cmd.name}` would send {_shown(t.path, zones)}, a file outside the workspace, "
                f"over the network. Only send files from inside {zones.workdir}.",
            )
    return None


def _network(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    if cmd.name in ("nc", "ncat", "netcat", "nc.traditional", "nc.openbsd") and any(
        re.fullmatch(r"-[A-Za-z]*[ec]|--(sh-|lua-)?exec(=.*)?", a) for a in args
    ):
        return _reverse_shell(cmd.name, "it hands the connection to a program with -e/-c")
    if cmd.name == "socat" and any(re.match(r"(?i)^(exec|system):", a) for a in args):
        return _reverse_shell(cmd.name, "an EXEC/SYSTEM address")
    files: list[str] = []
    if cmd.name == "curl":
        files += _option_values(args, "-T", "--upload-file")
        for v in _option_values(
            args, "-d", "--data", "--data-binary", "--data-ascii", "--data-urlencode", "--json"
        ):
            if v.startswith("@") and v != "@-":
                files.append(v[1:])
        for v in _option_values(args, "-F", "--form"):
            m = re.match(r"^[^=]*=[@<]([^;]+)", v)
            if m and m.group(1) != "-":
                files.append(m.group(1))
        decision = _each(_write_verdict, cmd, _option_values(args, "-o", "--output"), zones)
        if decision:
            return decision
    if cmd.name == "wget":
        files += _option_values(args, "--post-file", "--body-file")
        outputs = [o for o in _option_values(args, "-O", "--output-document") if o != "-"]
        outputs += _option_values(
            args, "-P", "--directory-prefix", "-o", "--output-file", "-a", "--append-output"
        )
        decision = _each(_write_verdict, cmd, outputs, zones)
        if decision:
            return decision
    if (
        cmd.stdin
        and cmd.stdin.kind == "file"
        and cmd.name in ("nc", "ncat", "netcat", "socat", "telnet")
    ):
        files.append(cmd.stdin.text)
    return _upload(cmd, files, zones)


def _scp(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args, ("-i", "-P", "-F", "-o", "-c", "-l", "-S", "-J"))
    if len(operands) < 2:
        return None
    if re.match(r"^[^/]*:", operands[-1]):
        return _upload(cmd, [s for s in operands[:-1] if not re.match(r"^[^/]*:", s)], zones)
    return _each(_write_verdict, cmd, operands[-1:], zones)


# -- processes, machine, disks --------------------------------------------------------------


def _kill(cmd: Command, zones: _Zones) -> Decision | None:
    args = list(cmd.args)
    everything = False
    if cmd.name == "kill":
        if args[:1] and args[0] in ("-s", "-n", "--signal"):
            args = args[2:]
        elif args[:1] and args[0].startswith("-") and args[0] != "--":
            args = args[1:]
        everything = any(a in ("-1", "1") for a in args if a != "--")
    elif cmd.name == "killall5":
        everything = True
    else:
        patterns = _positionals(
            args, ("-s", "--signal", "-u", "--user", "-U", "-g", "-G", "-P", "-t", "-F", "-o", "-y")
        )
        everything = any(p in (".", ".*", "^", "", "^.*", ".+", "^.*$") for p in patterns) or (
            not patterns and "-1" in args
        )
    if not everything:
        return None
    return _deny(
        "kill-all",
        f"`{cmd.name}` would signal every process (or init), not just yours. "
        "Kill a specific PID, or use pkill with a precise pattern.",
    )


def _shutdown(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args)
    if cmd.name in ("shutdown", "reboot", "halt", "poweroff"):
        stops = not _flag(cmd.args, "c", "--cancel") and "-k" not in cmd.args
    elif cmd.name in ("init", "telinit"):
        stops = bool(operands) and operands[0] in ("0", "6", "1", "s", "S")
    else:  # systemctl, loginctl
        stops = bool(
            {
                "poweroff",
                "reboot",
                "halt",
                "kexec",
                "emergency",
                "rescue",
                "suspend",
                "hibernate",
                "hybrid-sleep",
                "soft-reboot",
            }
            & set(operands[:1])
        )
    if not stops:
        return _persistence_service(cmd) if cmd.name == "systemctl" else None
    return _deny(
        "shutdown",
        f"`{cmd.name} {' '.join(cmd.args)}`".strip() + " would shut down or restart the machine. "
        "Don't; tell the user if a restart is needed.",
    )


def _persistence_service(cmd: Command) -> Decision | None:
    operands = _positionals(cmd.args)
    if cmd.name == "systemctl" and not (
        {"enable", "link", "set-default", "preset", "reenable"} & set(operands[:1])
    ):
        return None
    if cmd.name == "launchctl" and not (
        {"load", "bootstrap", "submit", "enable"} & set(operands[:1])
    ):
        return None
    if cmd.name == "crontab" and "-l" in cmd.args:
        return None
    if cmd.name in ("at", "batch") and set(cmd.args) & {"-l", "-c", "-r", "-d"}:
        return None
    return _deny(
        "persistence",
        f"`{cmd.name}` would install something that runs later on its own (cron, services, "
        "at jobs). Don't set up persistence; tell the user what should be scheduled.",
    )


_DISK_TOOLS = frozenset(
    [
        "wipefs",
        "sgdisk",
        "sfdisk",
        "gdisk",
        "fdisk",
        "cfdisk",
        "parted",
        "blkdiscard",
        "mkswap",
        "mke2fs",
        "badblocks",
        "hdparm",
        "nvme",
        "cryptsetup",
        "mdadm",
        "zpool",
        "lvremove",
        "vgremove",
        "pvremove",
        "dmsetup",
    ]
)
_DISK_READONLY = frozenset(
    [
        "-l",
        "--list",
        "print",
        "-p",
        "--print",
        "-h",
        "--help",
        "-V",
        "--version",
        "-n",
        "--dry-run",
        "-s",
    ]
)


def _disk(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    devices = [a for a in args if a.startswith("/dev/") and zones.zone(a) == "device"]
    if cmd.name == "wipefs" and not _flag(args, "a", "--all", "--offset") and "-o" not in args:
        return None
    if cmd.name in ("parted", "fdisk", "sfdisk", "sgdisk") and set(args) & _DISK_READONLY - {"-s"}:
        if not set(args) & {"rm", "mklabel", "mkpart", "--delete", "--zap-all", "-Z", "-z", "-o"}:
            return None
    if cmd.name == "hdparm" and not any(
        a.startswith(("--security-erase", "--trim", "--write")) for a in args
    ):
        return None
    if devices or (cmd.name in ("zpool", "lvremove", "vgremove", "pvremove") and args):
        return _deny("disk-wipe", _disk_reason(cmd.name, (devices or [" ".join(args)])[0], zones))
    return None


def _nsenter(cmd: Command, zones: _Zones) -> Decision | None:
    return _container_escape(cmd.name, "it enters the namespaces of another process")


def _container_escape(name: str, how: str) -> Decision:
    return _deny(
        "container-escape",
        f"`{name}` would give a container access to the host ({how}). Mount only the workspace "
        "and run without --privileged or host namespaces.",
    )


def _docker(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    if not {"run", "create", "exec"} & set(args[:3]):
        return None
    for k, a in enumerate(args):
        nxt = args[k + 1] if k + 1 < len(args) else ""
        if a == "--privileged" or a == "--privileged=true":
            return _container_escape(cmd.name, "--privileged")
        for opt in ("--pid", "--ipc", "--uts", "--userns", "--cgroupns", "--network", "--net"):
            if (a == opt and nxt == "host") or a == f"{opt}=host":
                if opt in ("--network", "--net"):
                    continue
                return _container_escape(cmd.name, f"{opt}=host")
        if a in ("--cap-add", "--security-opt") or a.startswith(("--cap-add=", "--security-opt=")):
            value = a.split("=", 1)[1] if "=" in a and a.startswith("--") else nxt
            if re.search(
                r"(?i)all|sys_admin|sys_ptrace|sys_module|dac_read_search|unconfined|disable", value
            ):
                return _container_escape(cmd.name, f"{a.split('=')[0]} {value}")
        sources = []
        if a in ("-v", "--volume") or a.startswith("--volume="):
            sources.append((a.split("=", 1)[1] if a.startswith("--volume=") else nxt).split(":")[0])
        if a == "--mount" or a.startswith("--mount="):
            m = re.search(r"(?:source|src)=([^,]+)", a if a.startswith("--mount=") else nxt)
            sources += [m.group(1)] if m else []
        for s in sources:
            if not s.startswith(("/", "~", ".")) or UNKNOWN in s:
                continue
            t = _target(s, cmd, zones)
            zone = zones.zone(t.path) if t else "workdir"
            if t and (zone not in ("workdir", "temp") or "docker.sock" in t.path):
                return _container_escape(
                    cmd.name, f"it mounts {_shown(t.path, zones)} from the host"
                )
    return None


# -- git, packages, system administration ---------------------------------------------------

_MAIN_BRANCHES = frozenset(["main", "master", "trunk", "develop", "production", "prod", "release"])
_GIT_MUTATING = frozenset(
    [
        "reset",
        "clean",
        "checkout",
        "restore",
        "rm",
        "mv",
        "push",
        "commit",
        "rebase",
        "merge",
        "pull",
        "stash",
        "switch",
        "am",
        "apply",
        "cherry-pick",
        "revert",
        "gc",
        "prune",
        "filter-branch",
        "filter-repo",
        "init",
        "update-ref",
        "worktree",
        "submodule",
        "reflog",
        "notes",
        "replace",
    ]
)


def _git(cmd: Command, zones: _Zones) -> Decision | None:
    args, k = cmd.args, 0
    where = [cmd.cwd]
    while k < len(args) and args[k].startswith("-"):
        a = args[k]
        if a in ("-C", "--git-dir", "--work-tree", "-c", "--namespace") and k + 1 < len(args):
            if a == "-C":
                where[0] = os.path.join(where[0], args[k + 1])
            elif a in ("--git-dir", "--work-tree"):
                where.append(os.path.join(where[0], args[k + 1]))
            k += 2
            continue
        if a.startswith(("--git-dir=", "--work-tree=")):
            where.append(os.path.join(where[0], a.split("=", 1)[1]))
        k += 1
    sub, rest = (args[k] if k < len(args) else ""), args[k + 1 :]
    if sub in _GIT_MUTATING:
        for w in where:
            t = _target(w, cmd, zones)
            if t and not t.guessed and zones.zone(t.path) not in ("workdir", "temp"):
                return _deny(
                    "git-outside-workdir",
                    f"`git {sub}` would change the repository at {_shown(t.path, zones)}, outside "
                    f"the workspace. Run git only on the repository inside {zones.workdir}.",
                )
    if sub == "config" and {"--global", "--system"} & set(rest) and _git_config_sets(rest):
        where_file = "/etc/gitconfig" if "--system" in rest else zones.home + "/.gitconfig"
        return _write_verdict("git config", _Target(where_file, False, False), zones)
    if sub == "push":
        return _git_push(rest)
    if sub == "branch" and (_flag(rest, "D", "--delete") or _flag(rest, "d")):
        hit = _MAIN_BRANCHES & set(_positionals(rest))
        if hit:
            return _git_main(f"git branch -D {min(hit)}", min(hit))
    return None


def _git_config_sets(rest: tuple[str, ...]) -> bool:
    changes = (
        "--unset",
        "--add",
        "--replace",
        "--remove-section",
        "--rename-section",
        "-e",
        "--edit",
    )
    reads = ("--get", "--list", "-l", "--show")
    if any(a.startswith(reads) for a in rest):
        return False
    return len(_positionals(rest)) >= 2 or any(a.startswith(changes) for a in rest)


def _git_push(rest: tuple[str, ...]) -> Decision | None:
    operands = _positionals(rest, ("--repo", "-o", "--push-option", "--receive-pack", "--exec"))
    refspecs = operands[1:]
    force = any(
        (
            a.startswith("--force")
            and not a.startswith(("--force-with-lease", "--force-if-includes"))
        )
        or re.fullmatch(r"-[A-Za-z]*f[A-Za-z]*", a) is not None
        for a in rest
    )
    delete = "--delete" in rest or _flag(rest, "d")
    targets = set()
    for r in refspecs:
        dst = r.lstrip("+").rsplit(":", 1)[-1].removeprefix("refs/heads/")
        if r.startswith("+"):
            force = True
        if r.startswith(":"):
            delete = True
        targets.add(dst)
    hit = _MAIN_BRANCHES & targets
    if (force or delete) and hit:
        return _git_main("git push " + " ".join(rest), min(hit))
    if force and ("--mirror" in rest or "--all" in rest or not refspecs):
        return _git_main("git push " + " ".join(rest), "the current branch (maybe main)")
    if "--mirror" in rest and not refspecs:
        return _git_main("git push --mirror", "every branch")
    return None


def _git_main(what: str, branch: str) -> Decision:
    return _deny(
        "git-force-main",
        f"`{what}` would force-push to or delete {branch}, rewriting shared history. Push to a "
        "feature branch instead, naming it explicitly (--force-with-lease on your own branch is fine).",
    )


_REMOVE_VERBS = {
    "apt": {"remove", "purge", "autoremove", "autopurge"},
    "apt-get": {"remove", "purge", "autoremove", "autopurge"},
    "aptitude": {"remove", "purge"},
    "dnf": {"remove", "erase", "autoremove"},
    "yum": {"remove", "erase", "autoremove"},
    "microdnf": {"remove"},
    "zypper": {"remove", "rm"},
    "apk": {"del"},
    "snap": {"remove"},
    "port": {"uninstall"},
}
_SIMULATE = frozenset(
    [
        "-s",
        "--simulate",
        "--just-print",
        "--dry-run",
        "--recon",
        "--no-act",
        "--assume-no",
        "--assumeno",
        "--test",
        "-p",
        "--print",
    ]
)


def _packages(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    if _SIMULATE & set(args):
        return None
    name = cmd.name
    if _INTERPRETER_PIP.match(name) and args[:2] == ("-m", "pip"):
        name, args = "pip", args[2:]
    removes = False
    if name in _REMOVE_VERBS:
        verb = _positionals(args, ("-o", "-c", "-t"))[:1]
        removes = bool(verb) and verb[0] in _REMOVE_VERBS[name]
    elif name == "pacman":
        removes = any(re.fullmatch(r"-R[a-z]*|--remove", a) for a in args)
    elif name == "rpm":
        removes = any(re.fullmatch(r"-e[a-z]*|--erase", a) for a in args)
    elif name == "dpkg":
        removes = any(re.fullmatch(r"-[rP]|--remove|--purge", a) for a in args)
    elif name == "emerge":
        removes = any(re.fullmatch(r"-C|--unmerge|--depclean|-c", a) for a in args)
    elif name.startswith("pip"):
        removes = "uninstall" in args and ("--break-system-packages" in args or "sudo" in cmd.via)
    if not removes:
        return None
    return _deny(
        "remove-system-packages",
        f"`{cmd.name}` would remove system packages, which can break the machine. Remove packages "
        f"only from a project environment (a venv, node_modules) inside {zones.workdir}.",
    )


_INTERPRETER_PIP = re.compile(r"^python[0-9.]*$")


def _sysadmin(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    if cmd.name == "passwd" and (set(args) & {"-S", "--status"}):
        return None
    if cmd.name == "sysctl" and not (
        set(args) & {"-w", "--write", "-p", "--load", "--system"} or any("=" in a for a in args)
    ):
        return None
    if cmd.name == "modprobe" and set(args) & {
        "-n",
        "--dry-run",
        "--show-depends",
        "-c",
        "--showconfig",
    }:
        return None
    if cmd.name == "setenforce" and args[:1] not in (("0",), ("Permissive",), ("permissive",)):
        return None
    return _deny(
        "system-admin",
        f"`{cmd.name}` would change system accounts, kernel modules or kernel settings. "
        "Don't; tell the user what needs to change.",
    )


# -- history, shell state, one-liners -------------------------------------------------------


def _hides_history(name: str, value: str) -> bool:
    if name == "HISTFILE":
        return True
    if name in ("HISTSIZE", "HISTFILESIZE", "SAVEHIST"):
        return value.strip() in ("", "0")
    return name == "HISTIGNORE" and "*" in value


def _history(cmd: Command, zones: _Zones) -> Decision | None:
    settings = list(cmd.assignments)
    if cmd.name in ("export", "declare", "typeset", "local", "readonly", "unset"):
        for a in _positionals(cmd.args):
            name, eq, value = a.partition("=")
            if eq or cmd.name == "unset":
                settings.append((name, value if eq else ""))
    tampered = any(_hides_history(n, value) for n, value in settings)
    tampered |= cmd.name == "history" and (_flag(cmd.args, "c") or _flag(cmd.args, "d"))
    tampered |= cmd.name == "set" and "+o" in cmd.args and "history" in cmd.args
    if not tampered:
        return None
    return _deny(
        "history-tampering",
        "The command would clear or switch off shell history. Leave history settings alone.",
    )


_FORK = re.compile(r"\bfork\b")
_LOOP = re.compile(r"\b(while|loop|for|until|repeat|forever)\b")
_SOCKET = re.compile(
    r"socket|fsockopen|TCPSocket|net\.connect|net\.Socket|IO::Socket|/dev/tcp|TCPClient"
)
_SPAWN = re.compile(
    r"/bin/\w*sh\b|\bdup2\b|pty\.spawn|\bexec\w*\(|subprocess|\bspawn|\bsystem\(|popen|cmd\.exe|child_process"
)
_DECODE = re.compile(
    r"b64decode|b32decode|decode_base64|base64|atob\(|fromhex|unhexlify|decodestring|codecs\.decode|rot.?13"
    r"|zlib\.decompress|marshal\.loads|unpack\(\s*['\"][mH]|Buffer\.from\([^)]*['\"](base64|hex)|FromBase64String"
)
_EXEC = re.compile(
    r"\b(exec|eval|system|popen|spawn\w*|execSync|Function|compile|Invoke-Expression|iex|instance_eval"
    r"|check_output|check_call|call|run|getoutput)\s*\(|\bsubprocess\b|`|\bqx\b|\biex\b"
)
_FETCH = re.compile(
    r"urlopen|urllib|requests\.(get|post)|https?\.get|fetch\(|Net::HTTP|open-uri|LWP|HTTP::Tiny|WebClient"
    r"|DownloadString|Invoke-WebRequest|\biwr\b|curl|wget"
)


def _inline_code(cmd: Command, zones: _Zones) -> Decision | None:
    for lang, code in cmd.code:
        if _FORK.search(code) and _LOOP.search(code):
            return _deny(
                "fork-bomb", f"The {lang} one-liner forks in a loop: a fork bomb. Don't run it."
            )
        if _SOCKET.search(code) and _SPAWN.search(code):
            return _reverse_shell(cmd.name, f"the {lang} one-liner wires a socket to a process")
        if _DECODE.search(code) and _EXEC.search(code):
            return _deny(
                "obfuscated-exec",
                f"The {lang} one-liner decodes hidden text and executes it. Run the decoded "
                "commands directly, as plain text, so they can be checked.",
            )
        if _FETCH.search(code) and re.search(
            r"\b(exec|eval|iex|Invoke-Expression|Function)\b", code
        ):
            return _deny(
                "pipe-to-shell",
                f"The {lang} one-liner downloads code and runs it. Save it to a file inside "
                f"{zones.workdir}, read it, then run it as a separate command.",
            )
    return None


_GENERIC: tuple[Check, ...] = (_secrets, _secret_env, _history, _inline_code)
_BY_NAME: dict[str, tuple[Check, ...]] = {}
for _names, _check_fn in [
    ("rm rmdir unlink shred srm trash trash-put wipe", _rm),
    ("find", _find),
    ("mv", _mv),
    ("cp install ln", _cp),
    ("touch", _writes_operands(("-d", "-t", "-r", "--date", "--reference"))),
    ("mkdir", _writes_operands(("-m", "--mode", "--context"))),
    ("tee sponge sudoedit", _writes_operands(())),
    ("truncate", _writes_operands(("-s", "--size", "-r", "--reference"))),
    ("sed", _sed),
    ("dd", _dd),
    ("rsync", _rsync),
    ("tar", _tar),
    ("unzip", _unzip),
    ("scp", _scp),
    ("chmod chown chgrp chattr setfacl", _chmod),
    ("curl wget nc ncat netcat nc.traditional nc.openbsd socat telnet", _network),
    ("kill killall killall5 pkill", _kill),
    ("shutdown reboot halt poweroff init telinit systemctl loginctl", _shutdown),
    ("crontab at batch launchctl", lambda c, z: _persistence_service(c)),
    ("nsenter", _nsenter),
    ("docker podman nerdctl", _docker),
    ("git", _git),
    (
        "apt apt-get aptitude dnf yum microdnf zypper apk snap port pacman rpm dpkg emerge pip pip3 "
        "python python3",
        _packages,
    ),
    (
        "passwd chpasswd useradd usermod userdel adduser deluser groupadd groupmod groupdel visudo "
        "vipw chsh insmod rmmod modprobe sysctl setenforce",
        _sysadmin,
    ),
]:
    for _n in _names.split():
        _BY_NAME[_n] = (*_BY_NAME.get(_n, ()), _check_fn)
for _n in _DISK_TOOLS:
    _BY_NAME[_n] = (*_BY_NAME.get(_n, ()), _disk)
