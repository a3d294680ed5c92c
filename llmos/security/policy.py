"""The first security policy of llmos: allow or deny one tool call before it runs.

Shell commands are analysed by `llmos.security.shell`; every simple command it finds (however
deeply nested or wrapped) is checked here. The rules are about *where* a command acts (inside
the workspace, in scratch space, or elsewhere) and *what kind* of act it is (deleting, writing,
running downloaded code, ...). File tools are checked on their resolved path. Whatever cannot be
analysed is denied ("unparseable"); a later engine will turn that into "ask".

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
    """The verdict on one tool call. `rule` is a stable id (a key of `RULES`); `reason` is a
    sentence for the model: what was wrong and what to do instead."""

    action: Action
    reason: str
    rule: str

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


RULES: Mapping[str, str] = MappingProxyType(
    {
        "none": "no rule forbids the call",
        "rm-protected-path": "deletes /, home, a system folder, the workspace or a folder above it",
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
        "pipe-to-shell": "runs code downloaded or produced by another command, unreviewed",
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
        "system-admin": "changes system accounts, kernel modules or kernel settings",
        "invalid-input": "the tool input is malformed",
        "unparseable": "the command could not be analysed",
    }
)

ALLOW = Decision("allow", "No rule of the security policy forbids this call.", "none")
_FILE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path"}
_FILE_TOOLS["NotebookEdit"] = "notebook_path"


def check_tool_call(
    tool_name: str, tool_input: Mapping[str, Any], *, workdir: Path, home: Path | None = None
) -> Decision:
    """Decide on one Claude Code tool call. This first policy governs Bash and the tools that
    write files; every other tool is allowed."""
    try:
        if tool_name == "Bash":
            command = tool_input.get("command")
            if not isinstance(command, str):
                return _deny("invalid-input", "Bash needs a 'command' string. Pass it as text.")
            return check_command(command, workdir=workdir, home=home)
        key = _FILE_TOOLS.get(tool_name)
        if key is None:
            return ALLOW
        path = tool_input.get(key)
        if not isinstance(path, str) or not path or "\0" in path:
            return _deny("invalid-input", f"{tool_name} needs a '{key}'. Pass an absolute path.")
        return _check_file_tool(tool_name, path, _zones(workdir, home))
    except Exception:
        logger.warning("security policy failed on a %s call", tool_name, exc_info=True)
        return _unparseable("internal error of the policy")


def check_command(command: str, *, workdir: Path, home: Path | None = None) -> Decision:
    """Decide on a shell command that bash would run in `workdir`."""
    try:
        zones = _zones(workdir, home)
        for event in analyze(command, cwd=zones.workdir, home=zones.home).events:
            decision = (
                _finding(event, zones) if isinstance(event, Finding) else _check(event, zones)
            )
            if decision is not None:
                return decision
        return ALLOW
    except ShellAnalysisError as exc:
        return _unparseable(str(exc))
    except Exception:  # fail closed; the traceback, not the command, goes to the log
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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ------------------------------------------------------------------------------------- zones

Zone = Literal["workdir", "temp", "sink", "network", "device", "protected", "outside"]
_SYSTEM = _words(
    "/etc /usr /bin /sbin /boot /var /lib /lib32 /lib64 /libx32 /opt /root /sys /proc /dev /srv "
    "/snap /run /mnt /media /nix /System /Library /Applications /private /cores /Volumes"
)
_SINKS = _words(
    "/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/stdout /dev/stderr /dev/stdin "
    "/dev/tty"
)
_BLOCK_DEVICE = re.compile(
    r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|md\d|dm-|loop|sr\d|nbd|zd|mapper/|root|fd\d"
    r"|mtd|sg\d|ram)"
)


@dataclass(frozen=True)
class _Zones:
    """Where things are: the workspace, home, scratch space, and how to classify a path."""

    workdir: str
    home: str
    temps: tuple[str, ...]
    homes: str  # the folder holding users' homes (/home, /Users), "" when it is not known

    def locate(self, text: str, cwd: str, *, follow_last: bool = True) -> str:
        """Absolute path of `text` from `cwd`, with `..` and symlinks resolved (not the last
        component when ``follow_last`` is false: what rm or ln act on)."""
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
        if _within(path, self.home) or (self.homes and _within(path, self.homes)):
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
    temps = {"/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir(), os.environ.get("TMPDIR")}
    known = {t for t in temps if t}
    real = tuple(sorted(known | {os.path.realpath(t) for t in known}))
    home = os.path.realpath(home)
    homes = os.path.dirname(home)
    homes = "" if homes == "/" or homes in real else homes
    return _Zones(os.path.realpath(workdir), home, real, homes)


def _zones(workdir: Path, home: Path | None) -> _Zones:
    return _zones_for(os.fspath(workdir), os.fspath(home if home is not None else Path.home()))


@dataclass(frozen=True)
class _Target:
    path: str
    children: bool  # from a glob: what is acted on are the entries inside `path`
    guessed: bool  # run-time parts were dropped: what an empty variable would give


def _target(text: str, cmd: Command, zones: _Zones, *, follow_last: bool = True) -> _Target | None:
    guessed = UNKNOWN in text
    if guessed:
        text = text.replace(UNKNOWN, "")
        if not text.strip() or text.startswith(("-", "=")):
            return None
    parts = text.split("/")
    glob_at = next((k for k, p in enumerate(parts) if re.search(r"[*?\[]", p)), None)
    children = glob_at is not None
    if glob_at is not None:
        if parts[glob_at].startswith(".") and fnmatch.fnmatch("..", parts[glob_at]):
            parts[glob_at] = ".."  # `.*` matched `..` in older shells
            children = False
        text = "/".join(parts[: glob_at + (not children)]) or ("/" if text[:1] == "/" else ".")
    return _Target(zones.locate(text, cmd.cwd, follow_last=follow_last), children, guessed)


def _shown(path: str, zones: _Zones) -> str:
    if path != zones.home and _within(path, zones.home) and not _within(path, zones.workdir):
        return "~" + path[len(zones.home.rstrip("/")) :]
    return path


def _what(path: str, zones: _Zones) -> str:
    if path == "/":
        return "the root of the file system"
    if path == zones.home:
        return "your home folder"
    if _within(zones.home, path):
        return "a folder that contains your home folder"
    if path == zones.workdir:
        return "the workspace itself"
    if _within(zones.workdir, path):
        return "a folder that contains the workspace"
    return "a system location"


# ---------------------------------------------------------------- verdicts on one path

_RC_FILES = _words(
    ".bashrc .bash_profile .bash_login .bash_logout .profile .zshrc .zprofile .zshenv .zlogin "
    ".zlogout .kshrc .cshrc .tcshrc .xinitrc .xprofile .xsessionrc .pam_environment .inputrc "
    "authorized_keys authorized_keys2 crontab"
)
_PERSISTENT = re.compile(
    r"/\.ssh/rc$|/\.config/(autostart|systemd|fish)/|/\.local/share/systemd/"
    r"|/Library/Launch(Agents|Daemons)/|^/var/spool/cron|^/(usr/)?lib/systemd/"
    r"|^/etc/(profile|bash|zsh|cron|systemd|init|rc|ld\.so\.preload|sudoers|ssh/|environment)"
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
        return _disk_wipe(name, t.path, zones)
    if _HISTORY.search(t.path):
        return _history_tampering(name, shown)
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
        return _disk_wipe(name, t.path, zones)
    if zone == "network":
        return _reverse_shell(name, f"it redirects to {t.path}")
    if t.guessed and zone != "protected":
        return None
    if _HISTORY.search(t.path):
        return _history_tampering(name, shown)
    if os.path.basename(t.path) in _RC_FILES or _PERSISTENT.search(t.path):
        return _deny(
            "persistence",
            f"`{name}` would change {shown}, a file that runs code at login or on a schedule. "
            f"Keep changes inside {zones.workdir}; ask the user to edit their own configuration.",
        )
    return _deny(
        "write-outside-workdir",
        f"`{name}` would write to {shown}, outside the workspace. "
        f"Choose a path inside {zones.workdir} instead.",
    )


_SSH_PUBLIC = re.compile(r"\.pub$|^known_hosts|^config$|^authorized_keys|^environment$")
_SECRET_FILES = re.compile(
    r"/\.aws(/|$)|/\.gnupg(/|$)|/\.kube(/|$)|/\.docker/config\.json$|/\.git-credentials$"
    r"|/\.netrc$|/\.pgpass$|/\.npmrc$|/\.pypirc$|/\.vault-token$|/\.password-store(/|$)"
    r"|/\.config/(gh|hub|gcloud)(/|$)|/\.azure(/|$)|/\.cargo/credentials|/\.gem/credentials$"
    r"|/\.terraform\.d/credentials|/\.local/share/keyrings|/Library/Keychains"
    r"|^/etc/(g?shadow-?|sudoers|master\.passwd)$|^/etc/ssh/ssh_host_[^/]*_key$|^/etc/ssl/private"
    r"|^/proc/[^/]+/environ$|^/(var/)?run/secrets"
)


def _is_secret(path: str, zones: _Zones) -> bool:
    if zones.zone(path) == "workdir":  # the workspace's own .env and test keys are its business
        return False
    base = os.path.basename(path)
    if re.search(r"/\.ssh(/|$)", path) and (path.endswith("/.ssh") or not _SSH_PUBLIC.search(base)):
        return True
    return bool(_SECRET_FILES.search(path)) or base == ".env" or base.startswith(".env.")


def _read_verdict(name: str, path: str, zones: _Zones) -> Decision | None:
    if not _is_secret(path, zones):
        return None
    return _deny(
        "credential-access",
        f"`{name}` would read credentials ({_shown(path, zones)}). Don't read secrets; ask the "
        "user for what you need, or let the tool that needs the credential read it itself.",
    )


def _disk_wipe(name: str, path: str, zones: _Zones) -> Decision:
    return _deny(
        "disk-wipe",
        f"`{name}` would overwrite, format or wipe the disk device {path}. Work on files "
        f"instead (for example a disk image inside {zones.workdir}).",
    )


def _history_tampering(name: str, shown: str) -> Decision:
    return _deny(
        "history-tampering",
        f"`{name}` would erase or rewrite shell history or system logs ({shown}). "
        "Leave history and logs alone.",
    )


def _reverse_shell(name: str, how: str) -> Decision:
    return _deny(
        "reverse-shell",
        f"`{name}` would connect a shell to the network ({how}): a reverse or bind shell. "
        "Use ordinary clients such as curl for network access.",
    )


def _container_escape(name: str, how: str) -> Decision:
    return _deny(
        "container-escape",
        f"`{name}` would give a container access to the host ({how}). Mount only the "
        "workspace and run without --privileged or host namespaces.",
    )


def _setuid(name: str) -> Decision:
    return _deny(
        "setuid",
        f"`{name}` would set the setuid/setgid bit, letting a program run with its owner's "
        "privileges. Use ordinary permissions such as 755.",
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


# --------------------------------------------------------------------------- dispatching

Check = Callable[[Command, _Zones], "Decision | None"]
_BY_NAME: dict[str, list[Check]] = {}


def _applies_to(names: str) -> Callable[[Check], Check]:
    """Register a check for the commands `names` (space-separated)."""

    def register(check: Check) -> Check:
        for name in names.split():
            _BY_NAME.setdefault(name, []).append(check)
        return check

    return register


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


def _check(cmd: Command, zones: _Zones) -> Decision | None:
    if UNKNOWN in cmd.name:
        return _deny(
            "dynamic-command",
            f"The command to run ({cmd.name.replace(UNKNOWN, '$…')}) is only known at run time, "
            "so it cannot be checked. Write the command name literally.",
        )
    name = cmd.name or "redirection"
    for r in cmd.redirects:
        t = _target(r.target, cmd, zones)
        if t is None:
            continue
        if zones.zone(t.path) == "network":
            return _reverse_shell(name, f"it opens {t.path}")
        writes = r.writes
        decision = _write_verdict(name, t, zones) if writes else _read_verdict(name, t.path, zones)
        if decision:
            return decision
    if "--help" in cmd.args or "--version" in cmd.args:
        return None
    specific = _BY_NAME.get(cmd.name) or ([_disk] if cmd.name.startswith("mkfs") else [])
    for check in (_secrets, _secret_env, _history, _inline_code, *specific):
        decision = check(cmd, zones)
        if decision is not None:
            return decision
    return None


def _positionals(args: Iterable[str], value_opts: Iterable[str] = ()) -> list[str]:
    """Operands of a command: not options, nor the values of the options in `value_opts`."""
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
    """Values given to the options `names`: ``-o v``, ``-ov``, ``--out v``, ``--out=v``."""
    out = []
    for k, a in enumerate(args):
        for n in names:
            if a == n and k + 1 < len(args):
                out.append(args[k + 1])
            elif n.startswith("--") and a.startswith(n + "="):
                out.append(a[len(n) + 1 :])
            elif len(n) == 2 and a.startswith(n) and len(a) > 2 and not a.startswith("--"):
                out.append(a[2:])
    return out


def _flag(args: Iterable[str], short: str, *long: str) -> bool:
    """Whether the short flag (alone or in a cluster like ``-rf``) or a long form is given."""
    return any(a in long or (re.fullmatch(r"-\w+", a) and short in a[1:]) for a in args)


def _each(
    verdict: Callable[[str, _Target, _Zones], Decision | None],
    cmd: Command,
    texts: Iterable[str],
    zones: _Zones,
    *,
    children: bool = False,
    follow_last: bool = True,
) -> Decision | None:
    """The first non-None `verdict` on the paths `texts`."""
    for text in texts:
        t = _target(text, cmd, zones, follow_last=follow_last)
        if t is not None:
            decision = verdict(cmd.name, _Target(t.path, True, t.guessed) if children else t, zones)
            if decision is not None:
                return decision
    return None


# ------------------------------------------------------------------ deleting and writing


@_applies_to("rm rmdir unlink shred srm trash trash-put wipe")
def _rm(cmd: Command, zones: _Zones) -> Decision | None:
    value_opts = "-n -s --iterations --size --random-source" if cmd.name == "shred" else ""
    operands = _positionals(cmd.args, value_opts.split())
    return _each(_delete_verdict, cmd, operands, zones, follow_last=False)


@_applies_to("find")
def _find(cmd: Command, zones: _Zones) -> Decision | None:
    if "-delete" not in cmd.args:
        return None
    roots = []
    for a in cmd.args:
        if a.startswith("-") or a in ("(", "!"):
            break
        roots.append(a)
    return _each(_delete_verdict, cmd, roots or ["."], zones, children=True)


def _destination(cmd: Command, operands: list[str]) -> tuple[list[str], list[str]]:
    """(sources, destinations) of cp, mv, install and ln."""
    target = _option_values(cmd.args, "-t", "--target-directory")
    if target:
        return operands, target
    return (operands[:-1], operands[-1:]) if len(operands) >= 2 else (operands, [])


_COPY_OPTS = "-t --target-directory -S --suffix -m --mode -o --owner -g --group".split()


@_applies_to("mv")
def _mv(cmd: Command, zones: _Zones) -> Decision | None:
    sources, dest = _destination(cmd, _positionals(cmd.args, _COPY_OPTS))
    moved = _each(_delete_verdict, cmd, sources, zones, follow_last=False)
    return moved or _each(_write_verdict, cmd, dest, zones)


@_applies_to("cp install ln")
def _cp(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args, _COPY_OPTS)
    if cmd.name == "install":
        if any(_is_setuid(m) for m in _option_values(cmd.args, "-m", "--mode")):
            return _setuid(cmd.name)
        if _flag(cmd.args, "d", "--directory"):
            return _each(_write_verdict, cmd, operands, zones)
    sources, dest = _destination(cmd, operands)
    copied = _copies_home(cmd, sources, zones) if cmd.name == "cp" else None
    return copied or _each(_write_verdict, cmd, dest, zones, follow_last=cmd.name != "ln")


def _writes_operands(names: str, value_opts: str = "") -> None:
    def check(cmd: Command, zones: _Zones) -> Decision | None:
        return _each(_write_verdict, cmd, _positionals(cmd.args, value_opts.split()), zones)

    _applies_to(names)(check)


_writes_operands("touch", "-d -t -r --date --reference")
_writes_operands("mkdir", "-m --mode --context")
_writes_operands("truncate", "-s --size -r --reference")
_writes_operands("tee sponge sudoedit")


@_applies_to("sed")
def _sed(cmd: Command, zones: _Zones) -> Decision | None:
    if not any(a.startswith("--in-place") or re.fullmatch(r"-[A-Za-z]*i.*", a) for a in cmd.args):
        return None
    operands = _positionals(cmd.args, "-e -f --expression --file -l --line-length".split())
    if not _option_values(cmd.args, "-e", "-f", "--expression", "--file"):
        operands = operands[1:]  # the first operand is the script
    return _each(_write_verdict, cmd, operands, zones)


@_applies_to("dd")
def _dd(cmd: Command, zones: _Zones) -> Decision | None:
    return _each(_write_verdict, cmd, [a[3:] for a in cmd.args if a.startswith("of=")], zones)


_RSYNC_OPTS = _words(
    "-e --rsh --exclude --include --filter -f --files-from --log-file --backup-dir --link-dest "
    "--compare-dest --copy-dest --partial-dir --temp-dir -T --password-file --chmod --chown "
    "--exclude-from --include-from -B --block-size --max-size --min-size --timeout --port "
    "--bwlimit"
)
_SCP_OPTS = "-i -P -F -o -c -l -S -J".split()


def _remote(path: str) -> bool:
    return re.match(r"^[^/]*:", path) is not None


@_applies_to("rsync scp")
def _copy_remote(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args, _RSYNC_OPTS if cmd.name == "rsync" else _SCP_OPTS)
    if len(operands) < 2:
        return None
    sources, dest = operands[:-1], operands[-1]
    copied = _copies_home(cmd, [s for s in sources if not _remote(s)], zones)
    if copied:
        return copied
    if _remote(dest):
        return _upload(cmd, [s for s in sources if not _remote(s)], zones)
    if any(a.startswith("--delete") or a == "--remove-source-files" for a in cmd.args):
        return _each(_delete_verdict, cmd, [dest], zones, children=True)
    return _each(_write_verdict, cmd, [dest], zones)


@_applies_to("tar")
def _tar(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    first = args[0] if args else ""
    modes = first.lstrip("-") if re.fullmatch(r"-?[A-Za-z]+", first) else ""
    modes += "".join(a[1:] for a in args[1:] if re.fullmatch(r"-[A-Za-z]+", a))
    archive = _option_values(args, "--file")
    archive += [
        args[k + 1]
        for k, a in enumerate(args[:-1])
        if re.fullmatch(r"-?[A-Za-z]*f", a) and (k == 0 or a.startswith("-"))
    ]
    if "x" in modes or {"--extract", "--get"} & set(args):
        return _each(_write_verdict, cmd, _option_values(args, "-C", "--directory"), zones)
    if set("cru") & set(modes) or {"--create", "--append", "--update"} & set(args):
        value_opts = ["-f", "--file", "-C", "--directory", "-T", "--files-from", "--exclude"]
        sources = [a for a in _positionals(args[1:], value_opts) if a not in archive]
        copied = _copies_home(cmd, sources, zones)
        return copied or _each(_write_verdict, cmd, [a for a in archive if a != "-"], zones)
    return None


@_applies_to("zip 7z 7za")
def _zip(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args, ["-x", "-i", "-b", "-n", "-t", "-tt"])
    if cmd.name != "zip":
        operands = operands[1:]  # 7z a archive.7z sources...
    return _copies_home(cmd, operands[1:], zones) or _each(_write_verdict, cmd, operands[:1], zones)


@_applies_to("unzip")
def _unzip(cmd: Command, zones: _Zones) -> Decision | None:
    return _each(_write_verdict, cmd, _option_values(cmd.args, "-d"), zones)


# --------------------------------------------------------------------------- permissions


def _is_setuid(mode: str) -> bool:
    if re.fullmatch(r"0*[0-7]{4}", mode):
        return int(mode[-4]) & 6 != 0
    return any(re.search(r"[+=][rwxXt]*s", part) for part in mode.split(","))


_ACL_OPTS = "-m -M -x -X --modify --modify-file --remove --remove-file --set --set-file".split()


@_applies_to("chmod chown chgrp chattr setfacl")
def _chmod(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args, _ACL_OPTS if cmd.name == "setfacl" else ["--from"])
    if cmd.name == "chattr":
        operands = [o for o in operands if not re.fullmatch(r"[+=][A-Za-z]+", o)]
    elif cmd.name != "setfacl" and not any(a.startswith("--reference") for a in cmd.args):
        mode, operands = (operands[0] if operands else ""), operands[1:]
        if cmd.name == "chmod" and _is_setuid(mode):
            return _setuid(cmd.name)
    recursive = " recursively" if _flag(cmd.args, "R", "--recursive") else ""
    for text in operands:
        t = _target(text, cmd, zones)
        zone = zones.zone(t.path) if t else "workdir"
        if t and zone in ("protected", "device", "sink"):
            return _deny(
                "chmod-protected-path",
                f"`{cmd.name}` would change permissions or ownership of {_shown(t.path, zones)}"
                f"{recursive}: {_what(t.path, zones)}. Only change files inside {zones.workdir}.",
            )
        if t and zone == "outside" and not t.guessed:
            return _write_verdict(cmd.name, t, zones)
    return None


# ------------------------------------------------------- secrets and sending data out

_READ_EXEMPT = _words(  # commands that only look at names and metadata, or act on paths
    "ls stat file du df test [ which type realpath readlink basename dirname touch mkdir chmod "
    "chown chgrp setfacl chattr ssh ssh-add ssh-keygen ssh-copy-id find tree echo printf rm "
    "rmdir mv ln cd pushd command"
)
_METADATA = re.compile(
    r"169\.254\.169\.254|169\.254\.170\.2|metadata\.google\.internal|100\.100\.100\.200"
    r"|fd00:ec2::254"
)
_SECRET_VAR = re.compile(
    r"(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|API_?KEY|ACCESS_KEY"
    r"|PRIVATE_KEY)(_|$)",
    re.IGNORECASE,
)
_PRINTERS = _words("echo printf printenv print cat tee logger")
_TOKEN_PRINTERS = {  # command -> pattern of the arguments that print a credential
    "gh": r"\bauth token\b",
    "gcloud": r"\bprint-(access|identity)-token\b",
    "az": r"\bget-access-token\b",
    "aws": r"\bconfigure get \S*(secret|token|key)|\bget-session-token\b|ecr get-login-password",
    "kubectl": r"\bconfig view\b.*--raw",
    "security": r"\bfind-(generic|internet)-password\b.*-w",
    "doctl": r"\bauth token\b",
    "heroku": r"\bauth:token\b",
    "vault": r"\b(read|kv get)\b",
}
_AUTH_OPTS = _words("-H --header --proxy-header -u --user --oauth2-bearer")


def _path_candidates(arg: str) -> Iterable[str]:
    if not arg or "://" in arg:
        return
    if not arg.startswith("-"):
        yield arg
    for sep in ("=", "@", "<"):  # --opt=path, -F f=@path, -d @path
        if sep in arg:
            yield arg.split(sep, 1)[1]


def _secrets(cmd: Command, zones: _Zones) -> Decision | None:
    if any(_METADATA.search(a) for a in cmd.args):
        return _deny(
            "credential-access",
            f"`{cmd.name}` would query the cloud instance metadata service, which hands out "
            "credentials. Don't; ask the user for what you need.",
        )
    printer = _TOKEN_PRINTERS.get(cmd.name)
    if printer and re.search(printer, " ".join(cmd.args)):
        return _deny(
            "credential-access",
            f"`{cmd.name} {' '.join(cmd.args)}` would print a credential into the conversation. "
            "Don't; let the tools that need it use it directly.",
        )
    if cmd.name in _READ_EXEMPT:
        return None
    texts = [cmd.stdin.text] if cmd.stdin and cmd.stdin.kind == "file" else []
    texts += [c for a in cmd.args for c in _path_candidates(a)]
    for text in texts:
        t = _target(text, cmd, zones) if "/" in text or text[:1] in ".~" else None
        decision = _read_verdict(cmd.name, t.path, zones) if t and not t.guessed else None
        if decision:
            return decision
    return None


def _copies_home(cmd: Command, sources: Iterable[str], zones: _Zones) -> Decision | None:
    """Copying or archiving a whole home folder (yours, root's, another user's) or a folder
    above one takes its credentials along."""
    for text in sources:
        t = _target(text, cmd, zones)
        if t is None or t.guessed:
            continue
        homes = _within(zones.home, t.path) or t.path == "/root"
        if homes or (zones.homes and os.path.dirname(t.path) == zones.homes):
            return _deny(
                "credential-access",
                f"`{cmd.name}` would copy {_shown(t.path, zones)} whole, credentials (~/.ssh, "
                f"~/.aws, ...) included. Copy only the files you need, from {zones.workdir}.",
            )
    return None


def _secret_env(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args)
    if cmd.name == "env":
        dumps = all("=" in o for o in operands)
    elif cmd.name in ("export", "declare", "typeset"):
        dumps = not operands and (not cmd.args or bool({"-p", "-x"} & set(cmd.args)))
    else:
        dumps = (cmd.name == "printenv" and not operands) or (cmd.name == "set" and not cmd.args)
    if dumps:
        return _deny(
            "secret-env",
            f"`{cmd.name}` would print the whole environment, which holds secrets such as API "
            "keys. Print only the variable you need (printenv NAME), if it is not a secret.",
        )
    if cmd.name in NETWORK_TOOLS:  # sending a token as a header is how it is meant to be used
        names = {
            v
            for k, arg in enumerate(cmd.argv)
            if not (k and cmd.args[k - 1] in _AUTH_OPTS) and not arg.text.startswith("--header=")
            for v in arg.variables
        }
    elif cmd.name in _PRINTERS:
        names = set(cmd.variables) | (set(operands) if cmd.name == "printenv" else set())
    else:
        return None
    names = {n for n in names if _SECRET_VAR.search(n)}
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


_NETCAT = _words("nc ncat netcat nc.traditional nc.openbsd")
_CURL_DATA = ("-d", "--data", "--data-binary", "--data-ascii", "--data-urlencode", "--json")


@_applies_to("curl wget socat telnet " + " ".join(_NETCAT))
def _network(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    if cmd.name in _NETCAT and any(
        re.fullmatch(r"-[A-Za-z]*[ec]|--(sh-|lua-)?exec(=.*)?", a) for a in args
    ):
        return _reverse_shell(cmd.name, "it hands the connection to a program with -e/-c")
    if cmd.name == "socat" and any(re.match(r"(?i)^(exec|system):", a) for a in args):
        return _reverse_shell(cmd.name, "an EXEC/SYSTEM address")
    files, outputs = [], []
    if cmd.name == "curl":
        files += _option_values(args, "-T", "--upload-file")
        files += [v[1:] for v in _option_values(args, *_CURL_DATA) if v[:1] == "@" and v != "@-"]
        forms = (re.match(r"^[^=]*=[@<]([^;]+)", v) for v in _option_values(args, "-F", "--form"))
        files += [m.group(1) for m in forms if m and m.group(1) != "-"]
        outputs = _option_values(args, "-o", "--output")
    elif cmd.name == "wget":
        files += _option_values(args, "--post-file", "--body-file")
        outputs = [o for o in _option_values(args, "-O", "--output-document") if o != "-"]
        outputs += _option_values(args, "-P", "--directory-prefix", "-o", "--output-file")
    elif cmd.stdin and cmd.stdin.kind == "file":
        files.append(cmd.stdin.text)  # nc host port < file
    return _each(_write_verdict, cmd, outputs, zones) or _upload(cmd, files, zones)


# --------------------------------------------------------- processes, machine, disks


@_applies_to("kill killall killall5 pkill")
def _kill(cmd: Command, zones: _Zones) -> Decision | None:
    args = list(cmd.args)
    if cmd.name == "kill":
        if args[:1] and args[0] in ("-s", "-n", "--signal"):
            args = args[2:]
        elif args[:1] and args[0].startswith("-") and args[0] != "--":
            args = args[1:]  # the signal
        everything = any(a in ("-1", "1") for a in args)
    elif cmd.name == "killall5":
        everything = True
    else:
        value_opts = "-s --signal -u --user -U -g -G -P -t -F -o -y".split()
        patterns = _positionals(args, value_opts)
        matches_all = {".", ".*", "^", "", "^.*", ".+", "^.*$"}
        everything = bool(matches_all & set(patterns)) or (not patterns and "-1" in args)
    if not everything:
        return None
    return _deny(
        "kill-all",
        f"`{cmd.name}` would signal every process (or init), not just yours. "
        "Kill a specific PID, or use pkill with a precise pattern.",
    )


_STOP_VERBS = _words(
    "poweroff reboot halt kexec emergency rescue suspend hibernate hybrid-sleep soft-reboot"
)


@_applies_to("shutdown reboot halt poweroff init telinit systemctl loginctl")
def _shutdown(cmd: Command, zones: _Zones) -> Decision | None:
    operands = _positionals(cmd.args)
    if cmd.name in ("shutdown", "reboot", "halt", "poweroff"):
        stops = not _flag(cmd.args, "c", "--cancel") and "-k" not in cmd.args
    elif cmd.name in ("init", "telinit"):
        stops = operands[:1] in (["0"], ["6"], ["1"], ["s"], ["S"])
    else:
        stops = bool(_STOP_VERBS & set(operands[:1]))
    if not stops:
        return None
    return _deny(
        "shutdown",
        f"`{cmd.name}` would shut down or restart the machine. Don't; tell the user if a "
        "restart is needed.",
    )


@_applies_to("crontab at batch launchctl systemctl")
def _persistence(cmd: Command, zones: _Zones) -> Decision | None:
    verb = set(_positionals(cmd.args)[:1])
    if cmd.name == "systemctl" and not {"enable", "link", "set-default", "reenable"} & verb:
        return None
    if cmd.name == "launchctl" and not {"load", "bootstrap", "submit", "enable"} & verb:
        return None
    if cmd.name == "crontab" and "-l" in cmd.args:
        return None
    if cmd.name in ("at", "batch") and {"-l", "-c", "-r", "-d"} & set(cmd.args):
        return None
    return _deny(
        "persistence",
        f"`{cmd.name}` would install something that later runs on its own (cron, services, "
        "at jobs). Don't set up persistence; tell the user what should be scheduled.",
    )


_DISK_TOOLS = (
    "wipefs sgdisk sfdisk gdisk fdisk cfdisk parted blkdiscard mkswap mke2fs badblocks hdparm "
    "nvme cryptsetup mdadm zpool lvremove vgremove pvremove dmsetup"
)
_PARTITION_READS = _words("-l --list print -p --print")
_PARTITION_WRITES = _words("rm mklabel mkpart --delete --zap-all -Z -z -o")


@_applies_to(_DISK_TOOLS)
def _disk(cmd: Command, zones: _Zones) -> Decision | None:
    args = set(cmd.args)
    devices = [a for a in cmd.args if a.startswith("/dev/") and zones.zone(a) == "device"]
    if cmd.name == "wipefs" and not (_flag(args, "a", "--all", "--offset") or "-o" in args):
        return None
    partitioner = cmd.name in ("parted", "fdisk", "sfdisk", "sgdisk")
    if partitioner and args & _PARTITION_READS and not args & _PARTITION_WRITES:
        return None
    if cmd.name == "hdparm" and not any(
        a.startswith(("--security-erase", "--trim", "--write")) for a in args
    ):
        return None
    if devices or (cmd.name in ("zpool", "lvremove", "vgremove", "pvremove") and args):
        return _disk_wipe(cmd.name, (devices or [" ".join(cmd.args)])[0], zones)
    return None


@_applies_to("nsenter")
def _nsenter(cmd: Command, zones: _Zones) -> Decision | None:
    return _container_escape(cmd.name, "it enters the namespaces of another process")


_HOST_NAMESPACES = ("--pid", "--ipc", "--uts", "--userns", "--cgroupns")
_DANGEROUS_CAPS = re.compile(
    r"(?i)all|sys_admin|sys_ptrace|sys_module|dac_read_search|unconfined|disable"
)


@_applies_to("docker podman nerdctl")
def _docker(cmd: Command, zones: _Zones) -> Decision | None:
    args = cmd.args
    if not {"run", "create", "exec"} & set(args[:3]):
        return None
    for k, a in enumerate(args):
        opt, eq, value = a.partition("=")
        value = value if eq else (args[k + 1] if k + 1 < len(args) else "")
        if a in ("--privileged", "--privileged=true"):
            return _container_escape(cmd.name, "--privileged")
        if opt in _HOST_NAMESPACES and value == "host":
            return _container_escape(cmd.name, f"{opt}=host")
        if opt in ("--cap-add", "--security-opt") and _DANGEROUS_CAPS.search(value):
            return _container_escape(cmd.name, f"{opt} {value}")
        sources = [value.split(":")[0]] if opt in ("-v", "--volume") else []
        if opt == "--mount":
            sources += re.findall(r"(?:source|src)=([^,]+)", value)
        for s in sources:
            t = _target(s, cmd, zones) if s[:1] in "/~." and UNKNOWN not in s else None
            zone = zones.zone(t.path) if t else "workdir"
            if t and (zone not in ("workdir", "temp") or "docker.sock" in t.path):
                return _container_escape(cmd.name, f"it mounts {_shown(t.path, zones)}")
    return None


# ------------------------------------------------- git, packages, system administration

_MAIN_BRANCHES = _words("main master trunk develop production prod release")
_GIT_MUTATING = _words(
    "reset clean checkout restore rm mv push commit rebase merge pull stash switch am apply "
    "cherry-pick revert gc prune filter-branch filter-repo init update-ref worktree submodule "
    "reflog notes replace"
)


@_applies_to("git")
def _git(cmd: Command, zones: _Zones) -> Decision | None:
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
    for w in where if sub in _GIT_MUTATING else []:
        t = _target(w, cmd, zones)
        if t and not t.guessed and zones.zone(t.path) not in ("workdir", "temp"):
            return _deny(
                "git-outside-workdir",
                f"`git {sub}` would change the repository at {_shown(t.path, zones)}, outside "
                f"the workspace. Run git only on the repository inside {zones.workdir}.",
            )
    key = (_positionals(rest)[:1] or [""])[0].lower()
    if sub == "config" and _GIT_CODE_KEYS.match(key) and _git_config_sets(rest):
        return _deny(
            "persistence",
            f"`git config {key}` would make git run a command of your choosing later "
            "(persistence). Leave git's command settings alone; ask the user.",
        )
    if sub == "push":
        return _git_push(rest)
    if sub == "branch" and (_flag(rest, "d", "--delete") or _flag(rest, "D")):
        hit = _MAIN_BRANCHES & set(_positionals(rest))
        return _git_main(f"git branch -D {min(hit)}", min(hit)) if hit else None
    return None


_GIT_CODE_KEYS = re.compile(
    r"core\.(sshcommand|pager|editor|hookspath|fsmonitor|askpass|gitproxy)|alias\.|credential\."
    r"|include(if)?\.|gpg\.\w*program|diff\..*(external|textconv|command)|filter\.|merge\..*driver"
    r"|sequence\.editor|url\..*insteadof|uploadpack\.|receive\.procreceiverefs"
)


def _git_config_sets(rest: tuple[str, ...]) -> bool:
    if any(a.startswith(("--get", "--list", "-l", "--show")) for a in rest):
        return False
    changes = ("--unset", "--add", "--replace", "--remove-section", "--rename-section", "-e")
    return len(_positionals(rest)) >= 2 or any(a.startswith(changes) for a in rest)


def _git_push(rest: tuple[str, ...]) -> Decision | None:
    refspecs = _positionals(rest, "--repo -o --push-option --receive-pack --exec".split())[1:]
    force = any(re.fullmatch(r"--force(=.*)?|-[A-Za-z]*f[A-Za-z]*", a) for a in rest) or any(
        r.startswith("+") for r in refspecs
    )
    delete = "--delete" in rest or _flag(rest, "d") or any(r.startswith(":") for r in refspecs)
    targets = {r.lstrip("+").rsplit(":", 1)[-1].removeprefix("refs/heads/") for r in refspecs}
    hit = _MAIN_BRANCHES & targets
    what = "git push " + " ".join(rest)
    if (force or delete) and hit:
        return _git_main(what, min(hit))
    if force and ("--mirror" in rest or "--all" in rest or not refspecs or "HEAD" in targets):
        return _git_main(what, "the current branch (maybe main) or every branch")
    return None


def _git_main(what: str, branch: str) -> Decision:
    return _deny(
        "git-force-main",
        f"`{what}` would force-push to or delete {branch}, rewriting shared history. Push to "
        "a feature branch named explicitly (--force-with-lease on your own branch is fine).",
    )


_REMOVE_VERBS = {
    "apt": "remove purge autoremove autopurge",
    "apt-get": "remove purge autoremove autopurge",
    "aptitude": "remove purge",
    "dnf": "remove erase autoremove",
    "yum": "remove erase autoremove",
    "microdnf": "remove",
    "zypper": "remove rm",
    "apk": "del",
    "snap": "remove",
    "port": "uninstall",
}
_REMOVE_FLAGS = {
    "pacman": r"-R[a-z]*|--remove",
    "rpm": r"-e[a-z]*|--erase",
    "dpkg": r"-[rP]|--remove|--purge",
    "emerge": r"-C|--unmerge|--depclean|-c",
}
_SIMULATE = _words(
    "-s --simulate --just-print --dry-run --recon --no-act --assume-no --assumeno --test -p --print"
)


@_applies_to(" ".join([*_REMOVE_VERBS, *_REMOVE_FLAGS, "pip pip3 python python3"]))
def _packages(cmd: Command, zones: _Zones) -> Decision | None:
    name, args = cmd.name, cmd.args
    if name.startswith("python") and args[:2] == ("-m", "pip"):
        name, args = "pip", args[2:]
    if _SIMULATE & set(args):
        return None
    if name in _REMOVE_VERBS:
        verb = _positionals(args, ["-o", "-c", "-t"])[:1]
        removes = bool(verb) and verb[0] in _REMOVE_VERBS[name].split()
    elif name in _REMOVE_FLAGS:
        removes = any(re.fullmatch(_REMOVE_FLAGS[name], a) for a in args)
    else:  # pip: only the system's own Python counts
        removes = "uninstall" in args and ("--break-system-packages" in args or "sudo" in cmd.via)
    if not removes:
        return None
    return _deny(
        "remove-system-packages",
        f"`{cmd.name}` would remove system packages, which can break the machine. Remove "
        f"packages only from a project environment (a venv, node_modules) inside {zones.workdir}.",
    )


_FIREWALL_OFF = _words("-F --flush -X --delete-chain -P --policy flush disable reset")


@_applies_to(
    "passwd chpasswd useradd usermod userdel adduser deluser groupadd groupmod groupdel visudo "
    "vipw chsh insmod rmmod modprobe sysctl setenforce iptables ip6tables nft ufw"
)
def _sysadmin(cmd: Command, zones: _Zones) -> Decision | None:
    args = set(cmd.args)
    if cmd.name == "passwd" and args & {"-S", "--status"}:
        return None
    writes = {"-w", "--write", "-p", "--load", "--system"}
    if cmd.name == "sysctl" and not (args & writes or any("=" in a for a in args)):
        return None
    if cmd.name == "modprobe" and args & {"-n", "--dry-run", "--show-depends", "-c"}:
        return None
    if cmd.name == "setenforce" and not args & {"0", "Permissive", "permissive"}:
        return None
    if cmd.name in ("iptables", "ip6tables", "nft", "ufw") and not args & _FIREWALL_OFF:
        return None
    return _deny(
        "system-admin",
        f"`{cmd.name}` would change system accounts, kernel modules or kernel settings. "
        "Don't; tell the user what needs to change.",
    )


# ------------------------------------------------------ history and one-liners (all)


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
                settings.append((name, value))
    tampered = any(_hides_history(n, value) for n, value in settings)
    if cmd.name == "history":
        tampered |= _flag(cmd.args, "c") or _flag(cmd.args, "d")
    if cmd.name == "set":
        tampered |= "+o" in cmd.args and "history" in cmd.args
    if not tampered:
        return None
    return _deny(
        "history-tampering",
        "The command would clear or switch off shell history. Leave history settings alone.",
    )


_FORK = re.compile(r"\bfork\b")
_LOOP = re.compile(r"\b(while|loop|for|until|repeat|forever)\b")
_SOCKET = re.compile(r"socket|fsockopen|TCPSocket|TCPClient|net\.(connect|Socket)|/dev/tcp")
_SPAWN = re.compile(
    r"/bin/\w*sh\b|\bdup2\b|pty\.spawn|\bexec\w*\(|subprocess|\bspawn|\bsystem\(|popen"
    r"|cmd\.exe|child_process"
)
_DECODE = re.compile(
    r"b64decode|b32decode|decode_base64|base64|atob\(|fromhex|unhexlify|decodestring"
    r"|codecs\.decode|rot.?13|zlib\.decompress|marshal\.loads|unpack\(\s*['\"][mH]"
    r"|Buffer\.from\([^)]*['\"](base64|hex)|FromBase64String"
)
_EXEC = re.compile(
    r"\b(exec|eval|system|popen|spawn\w*|execSync|Function|compile|Invoke-Expression|iex"
    r"|instance_eval|check_output|check_call|call|run|getoutput)\s*\(|\bsubprocess\b|`|\bqx\b"
)
_ENV_READ = re.compile(  # a secret variable read, or the whole environment printed
    r"(os\.environ|process\.env|\bENV|getenv|\$ENV)\W{0,4}"
    r"(?i:\w*(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY)\w*)"
    r"|(?<![\w.])(print|console\.log|puts|pp|p|json\.dumps)\s*\(?\s*(dict\()?"
    r"(os\.environ|process\.env|ENV)\b(?!\s*[\[.(])"
)
_FETCH = re.compile(
    r"urlopen|urllib|requests\.(get|post)|https?\.get|fetch\(|Net::HTTP|open-uri|LWP"
    r"|HTTP::Tiny|WebClient|DownloadString|Invoke-WebRequest|\biwr\b|curl|wget"
)


def _inline_code(cmd: Command, zones: _Zones) -> Decision | None:
    """Interpreter one-liners (python -c, perl -e, ...): the shell they run is analysed by
    `shell`; here are the patterns of the languages themselves."""
    for lang, code in cmd.code:
        if _FORK.search(code) and _LOOP.search(code):
            return _deny("fork-bomb", f"The {lang} one-liner forks in a loop. Don't run it.")
        if _SOCKET.search(code) and _SPAWN.search(code):
            return _reverse_shell(cmd.name, f"the {lang} one-liner wires a socket to a process")
        if _DECODE.search(code) and _EXEC.search(code):
            return _deny(
                "obfuscated-exec",
                f"The {lang} one-liner decodes hidden text and executes it. Run the decoded "
                "commands directly, as plain text, so they can be checked.",
            )
        if _ENV_READ.search(code):
            return _deny(
                "secret-env",
                f"The {lang} one-liner reads secret environment variables or prints the whole "
                "environment. Use secrets only where needed, without printing them.",
            )
        if _FETCH.search(code) and re.search(r"\b(exec|eval|iex|Invoke-Expression)\b", code):
            return _deny(
                "pipe-to-shell",
                f"The {lang} one-liner downloads code and runs it. Save it to a file inside "
                f"{zones.workdir}, read it, then run it as a separate command.",
            )
    return None
