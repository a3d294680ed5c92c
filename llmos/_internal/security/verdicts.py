"""Verdicts on one path: may it be deleted, written or read? And the denials several rules
share (disk wipe, history tampering, reverse shell...), each with a reason for the model.

Hard checks come first (llmos's own files, devices, history, start-up files, system folders);
the soft ones last, after the places the user's policy allows (`Zones.user_allowed`)."""

from __future__ import annotations

import os
import re

from llmos._internal.security.decision import Decision, ask, deny
from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.zones import Target, Zones, shown, what, within

_RC_FILES = frozenset(
    ".bashrc .bash_profile .bash_login .bash_logout .profile .zshrc .zprofile .zshenv .zlogin "
    ".zlogout .kshrc .cshrc .tcshrc .xinitrc .xprofile .xsessionrc .pam_environment .inputrc "
    "authorized_keys authorized_keys2 crontab".split()
)
_PERSISTENT = LazyRegex(
    r"/\.ssh/rc$|/\.config/(autostart|systemd|fish)(/|$)|/\.local/share/systemd(/|$)"
    r"|/Library/Launch(Agents|Daemons)/|^/var/spool/cron|^/(usr/)?lib/systemd/"
    r"|^/etc/(profile|bash|zsh|cron|systemd|init|rc|ld\.so\.preload|sudoers|ssh/|environment)"
)
_HISTORY = LazyRegex(r"(^|/)\.?\w*_?history$|^/var/log(/|$)|/(wtmp|btmp|lastlog|utmp)$|/\.lesshst$")
# A repository's hooks and its config (which can name hooks and commands git runs).
_GIT_HOOKS = LazyRegex(r"/\.git/(hooks(/|$)|config$)")


def llmos_state(name: str, path: str, zones: Zones) -> Decision:
    return deny(
        "llmos-state",
        f"`{name}` would change {shown(path, zones)}, which belongs to llmos itself (its "
        "policy, settings, ledger, audit or session logs). Leave llmos's own files alone.",
    )


def delete_verdict(name: str, t: Target, zones: Zones) -> Decision | None:
    zone = zones.zone(t.path)
    if t.path == zones.workdir and not t.children:
        zone = "protected"
    elif zone != "protected" and zones.is_guarded(t.path, or_above=True):
        return llmos_state(name, t.path, zones)  # wherever the workspace is, /tmp included
    elif zone in ("workdir", "temp") or (t.children and t.path in zones.temps):
        return None
    here = shown(t.path, zones)
    if zone == "device":
        return disk_wipe(name, t.path, zones)
    if _HISTORY.search(t.path):
        return history_tampering(name, here)
    if zone in ("protected", "sink"):
        target = ("the contents of " if t.children else "") + here
        maybe = " if a variable in it is empty" if t.guessed else ""
        return deny(
            "rm-protected-path",
            f"`{name}` would delete {target}{maybe}: {what(t.path, zones)}. "
            f"Delete only paths inside {zones.workdir} (or scratch space under /tmp).",
        )
    if t.guessed or zones.user_allowed(t.path):
        return None
    return deny(
        "delete-outside-workdir",
        f"`{name}` would delete {here}, which is outside the workspace. "
        f"Choose a path inside {zones.workdir} instead.",
    )


def write_verdict(name: str, t: Target, zones: Zones) -> Decision | None:
    if zones.is_guarded(t.path):
        return llmos_state(name, t.path, zones)  # wherever the workspace is, /tmp included
    zone = zones.zone(t.path)
    if _GIT_HOOKS.search(t.path):
        hooks = _hooks_verdict(f"`{name}`", t.path, zone, zones)
        if hooks is not None:
            return hooks
    if zone in ("workdir", "temp", "sink") or t.path in zones.temps:
        return None
    here = shown(t.path, zones)
    if zone == "device":
        return disk_wipe(name, t.path, zones)
    if zone == "network":
        return reverse_shell(name, f"it redirects to {t.path}")
    if t.guessed and zone != "protected":
        return None
    if _HISTORY.search(t.path):
        return history_tampering(name, here)
    if os.path.basename(t.path) in _RC_FILES or _PERSISTENT.search(t.path):
        return deny(
            "persistence",
            f"`{name}` would change {here}, a file that runs code at login or on a schedule. "
            f"Keep changes inside {zones.workdir}; ask the user to edit their own configuration.",
        )
    if zones.is_system(t.path):
        return deny(
            "write-system-path",
            f"`{name}` would write to {here}, inside a system folder. Don't change the system; "
            f"work inside {zones.workdir} and tell the user what should change.",
        )
    if zones.user_allowed(t.path):
        return None
    return deny(
        "write-outside-workdir",
        f"`{name}` would write to {here}, outside the workspace. "
        f"Choose a path inside {zones.workdir} instead.",
    )


def file_tool_verdict(tool: str, path: str, zones: Zones) -> Decision | None:
    """Write, Edit, MultiEdit or NotebookEdit on `path` (relative to the workspace)."""
    if path == "~" or path.startswith("~/"):
        path = zones.home + path[1:]
    lexical = os.path.normpath(os.path.join(zones.workdir, path))
    resolved = os.path.realpath(lexical)
    if within(resolved, zones.workdir):
        if _GIT_HOOKS.search(resolved):
            return _hooks_verdict(tool, resolved, "workdir", zones)
        return None
    verdict = write_verdict(tool, Target(resolved, False, False), zones)
    if verdict is not None and verdict.rule != "write-outside-workdir":
        return verdict
    if verdict is None and zones.user_allowed(resolved):
        return None  # file tools get no scratch space: only the workspace and allowed paths
    via = " through a symbolic link" if within(lexical, zones.workdir) else ""
    return deny(
        "write-outside-workdir",
        f"{tool} would write {shown(resolved, zones)}{via}, outside the workspace. "
        f"Choose a path inside {zones.workdir} instead.",
    )


def _hooks_verdict(what: str, path: str, zone: str, zones: Zones) -> Decision | None:
    """Writing a repository's hooks (or config): asked about in the workspace's own
    repository, persistence anywhere else (scratch space included: not the workspace's)."""
    if zone == "workdir":
        return git_hooks(f"{what} on {shown(path, zones)}", shown(path, zones), zones)
    return deny(
        "persistence",
        f"{what} would change the git hooks or config of a repository outside the workspace "
        f"({shown(path, zones)}): code git runs by itself later. Leave other repositories alone.",
    )


def git_hooks(what: str, where: str, zones: Zones) -> Decision:
    return ask(
        "git-hooks",
        f"{what} would change the git hooks or command settings of the workspace's repository "
        f"({where}): code git runs by itself later. Have a human approve it, or leave hooks "
        "alone.",
    )


_SSH_PUBLIC = LazyRegex(r"\.pub$|^known_hosts|^config$|^authorized_keys|^environment$")
_SECRET_FILES = LazyRegex(
    r"/\.aws(/|$)|/\.gnupg(/|$)|/\.kube(/|$)|/\.docker/config\.json$|/\.git-credentials$"
    r"|/\.netrc$|/\.pgpass$|/\.npmrc$|/\.pypirc$|/\.vault-token$|/\.password-store(/|$)"
    r"|/\.config/(gh|hub|gcloud)(/|$)|/\.azure(/|$)|/\.cargo/credentials|/\.gem/credentials$"
    r"|/\.terraform\.d/credentials|/\.local/share/keyrings|/Library/Keychains"
    r"|^/etc/(g?shadow-?|sudoers|master\.passwd)$|^/etc/ssh/ssh_host_[^/]*_key$|^/etc/ssl/private"
    r"|^/proc/[^/]+/environ$|^/(var/)?run/secrets|/\.credentials\.json$"
    r"|/\.mozilla/firefox/[^/]+/(logins\.json|key[34]\.db|cookies\.sqlite)$"
    r"|/(google-chrome|chromium|BraveSoftware/Brave-Browser|Google/Chrome)/[^/]+"
    r"/(Login Data|Cookies)$"
    r"|/\.config/(op|1Password)(/|$)|/\.local/share/(password-store|gopass)(/|$)"
)
# Places that hold credentials, for "does this folder contain secrets?" (Grep, Glob).
SECRET_FOLDERS = ("/etc/ssl/private", "/root", "/var/run/secrets", "/run/secrets")
_SECRET_DIRS = (".ssh", ".aws", ".gnupg", ".kube", ".azure", ".password-store", ".docker")


def is_secret(path: str, zones: Zones) -> bool:
    if zones.zone(path) == "workdir":  # the workspace's own .env and test keys are its business
        return False
    if zones.user_allowed(path):
        return False
    base = os.path.basename(path)
    if re.search(r"/\.ssh(/|$)", path) and (path.endswith("/.ssh") or not _SSH_PUBLIC.search(base)):
        return True
    return bool(_SECRET_FILES.search(path)) or base == ".env" or base.startswith(".env.")


def holds_secrets(folder: str, zones: Zones) -> bool:
    """Whether searching `folder` recursively would go through credentials."""
    if zones.zone(folder) == "workdir" or zones.user_allowed(folder):
        return False
    if is_secret(folder, zones) or folder == "/" or within(zones.home, folder):
        return True
    if zones.homes and within(folder, zones.homes) and folder.count("/") <= 2:
        return True  # another user's home
    return any(within(s, folder) for s in ("/etc/shadow", *SECRET_FOLDERS))


def in_secret_folder(path: str, zones: Zones) -> bool:
    """Whether `path` lies in a credentials folder (~/.ssh, ~/.aws, ...) outside the workspace."""
    if zones.zone(path) == "workdir" or zones.user_allowed(path):
        return False
    parts = path.split("/")
    return bool(set(parts) & set(_SECRET_DIRS)) or any(within(path, s) for s in SECRET_FOLDERS)


def read_verdict(name: str, path: str, zones: Zones) -> Decision | None:
    if not is_secret(path, zones):
        return None
    return deny(
        "credential-access",
        f"`{name}` would read credentials ({shown(path, zones)}). Don't read secrets; ask the "
        "user for what you need, or let the tool that needs the credential read it itself.",
    )


def disk_wipe(name: str, path: str, zones: Zones) -> Decision:
    return deny(
        "disk-wipe",
        f"`{name}` would overwrite, format or wipe the disk device {path}. Work on files "
        f"instead (for example a disk image inside {zones.workdir}).",
    )


def history_tampering(name: str, here: str) -> Decision:
    return deny(
        "history-tampering",
        f"`{name}` would erase or rewrite shell history or system logs ({here}). "
        "Leave history and logs alone.",
    )


def reverse_shell(name: str, how: str) -> Decision:
    return deny(
        "reverse-shell",
        f"`{name}` would connect a shell to the network ({how}): a reverse or bind shell. "
        "Use ordinary clients such as curl for network access.",
    )


def container_escape(name: str, how: str) -> Decision:
    return deny(
        "container-escape",
        f"`{name}` would give a container access to the host ({how}). Mount only the "
        "workspace and run without --privileged or host namespaces.",
    )


def setuid(name: str) -> Decision:
    return deny(
        "setuid",
        f"`{name}` would set the setuid/setgid bit, letting a program run with its owner's "
        "privileges. Use ordinary permissions such as 755.",
    )
