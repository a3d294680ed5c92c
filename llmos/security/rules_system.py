"""Rules about the machine: killing every process, shutting down, persistence (cron, services),
disks, containers, git (force-pushing main, repositories outside the workspace, git config that
runs commands), removing system packages and system administration."""

from __future__ import annotations

import os
import re

from llmos.security.decision import Decision, deny
from llmos.security.lazy_regex import LazyRegex
from llmos.security.rule_kit import applies_to, flag, positionals, words
from llmos.security.shell_types import UNKNOWN, Command
from llmos.security.verdicts import container_escape, disk_wipe
from llmos.security.zones import Zones, shown, target


@applies_to("kill killall killall5 pkill")
def _kill(cmd: Command, zones: Zones) -> Decision | None:
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
        patterns = positionals(args, value_opts)
        matches_all = {".", ".*", "^", "", "^.*", ".+", "^.*$"}
        everything = bool(matches_all & set(patterns)) or (not patterns and "-1" in args)
    if not everything:
        return None
    return deny(
        "kill-all",
        f"`{cmd.name}` would signal every process (or init), not just yours. "
        "Kill a specific PID, or use pkill with a precise pattern.",
    )


_STOP_VERBS = words(
    "poweroff reboot halt kexec emergency rescue suspend hibernate hybrid-sleep soft-reboot"
)


@applies_to("shutdown reboot halt poweroff init telinit systemctl loginctl")
def _shutdown(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args)
    if cmd.name in ("shutdown", "reboot", "halt", "poweroff"):
        stops = not flag(cmd.args, "c", "--cancel") and "-k" not in cmd.args
    elif cmd.name in ("init", "telinit"):
        stops = operands[:1] in (["0"], ["6"], ["1"], ["s"], ["S"])
    else:
        stops = bool(_STOP_VERBS & set(operands[:1]))
    if not stops:
        return None
    return deny(
        "shutdown",
        f"`{cmd.name}` would shut down or restart the machine. Don't; tell the user if a "
        "restart is needed.",
    )


@applies_to("crontab at batch launchctl systemctl")
def _persistence(cmd: Command, zones: Zones) -> Decision | None:
    verb = set(positionals(cmd.args)[:1])
    if cmd.name == "systemctl" and not {"enable", "link", "set-default", "reenable"} & verb:
        return None
    if cmd.name == "launchctl" and not {"load", "bootstrap", "submit", "enable"} & verb:
        return None
    if cmd.name == "crontab" and "-l" in cmd.args:
        return None
    if cmd.name in ("at", "batch") and {"-l", "-c", "-r", "-d"} & set(cmd.args):
        return None
    return deny(
        "persistence",
        f"`{cmd.name}` would install something that later runs on its own (cron, services, "
        "at jobs). Don't set up persistence; tell the user what should be scheduled.",
    )


_DISK_TOOLS = (
    "wipefs sgdisk sfdisk gdisk fdisk cfdisk parted blkdiscard mkswap mke2fs badblocks hdparm "
    "nvme cryptsetup mdadm zpool lvremove vgremove pvremove dmsetup"
)
_PARTITION_READS = words("-l --list print -p --print")
_PARTITION_WRITES = words("rm mklabel mkpart --delete --zap-all -Z -z -o")


@applies_to(_DISK_TOOLS)
def disk(cmd: Command, zones: Zones) -> Decision | None:
    args = set(cmd.args)
    devices = [a for a in cmd.args if a.startswith("/dev/") and zones.zone(a) == "device"]
    if cmd.name == "wipefs" and not (flag(args, "a", "--all", "--offset") or "-o" in args):
        return None
    partitioner = cmd.name in ("parted", "fdisk", "sfdisk", "sgdisk")
    if partitioner and args & _PARTITION_READS and not args & _PARTITION_WRITES:
        return None
    if cmd.name == "hdparm" and not any(
        a.startswith(("--security-erase", "--trim", "--write")) for a in args
    ):
        return None
    if devices or (cmd.name in ("zpool", "lvremove", "vgremove", "pvremove") and args):
        return disk_wipe(cmd.name, (devices or [" ".join(cmd.args)])[0], zones)
    return None


@applies_to("nsenter")
def _nsenter(cmd: Command, zones: Zones) -> Decision | None:
    return container_escape(cmd.name, "it enters the namespaces of another process")


_HOST_NAMESPACES = ("--pid", "--ipc", "--uts", "--userns", "--cgroupns")
_DANGEROUS_CAPS = LazyRegex(
    r"(?i)all|sys_admin|sys_ptrace|sys_module|dac_read_search|unconfined|disable"
)


@applies_to("docker podman nerdctl")
def _docker(cmd: Command, zones: Zones) -> Decision | None:
    args = cmd.args
    if not {"run", "create", "exec"} & set(args[:3]):
        return None
    for k, a in enumerate(args):
        opt, eq, value = a.partition("=")
        value = value if eq else (args[k + 1] if k + 1 < len(args) else "")
        if a in ("--privileged", "--privileged=true"):
            return container_escape(cmd.name, "--privileged")
        if opt in _HOST_NAMESPACES and value == "host":
            return container_escape(cmd.name, f"{opt}=host")
        if opt in ("--cap-add", "--security-opt") and _DANGEROUS_CAPS.search(value):
            return container_escape(cmd.name, f"{opt} {value}")
        sources = [value.split(":")[0]] if opt in ("-v", "--volume") else []
        if opt == "--mount":
            sources += re.findall(r"(?:source|src)=([^,]+)", value)
        for s in sources:
            t = target(s, cmd, zones) if s[:1] in "/~." and UNKNOWN not in s else None
            zone = zones.zone(t.path) if t else "workdir"
            if t and (zone not in ("workdir", "temp") or "docker.sock" in t.path):
                return container_escape(cmd.name, f"it mounts {shown(t.path, zones)}")
    return None


# ------------------------------------------------- git, packages, system administration

_MAIN_BRANCHES = words("main master trunk develop production prod release")
_GIT_MUTATING = words(
    "reset clean checkout restore rm mv push commit rebase merge pull stash switch am apply "
    "cherry-pick revert gc prune filter-branch filter-repo init update-ref worktree submodule "
    "reflog notes replace"
)


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
    for w in where if sub in _GIT_MUTATING else []:
        t = target(w, cmd, zones)
        if t and not t.guessed and zones.zone(t.path) not in ("workdir", "temp"):
            return deny(
                "git-outside-workdir",
                f"`git {sub}` would change the repository at {shown(t.path, zones)}, outside "
                f"the workspace. Run git only on the repository inside {zones.workdir}.",
            )
    key = (positionals(rest)[:1] or [""])[0].lower()
    if sub == "config" and _GIT_CODE_KEYS.match(key) and _git_config_sets(rest):
        return deny(
            "persistence",
            f"`git config {key}` would make git run a command of your choosing later "
            "(persistence). Leave git's command settings alone; ask the user.",
        )
    if sub == "push":
        return _git_push(rest)
    if sub == "branch" and (flag(rest, "d", "--delete") or flag(rest, "D")):
        hit = _MAIN_BRANCHES & set(positionals(rest))
        return _git_main(f"git branch -D {min(hit)}", min(hit)) if hit else None
    return None


_GIT_CODE_KEYS = LazyRegex(
    r"core\.(sshcommand|pager|editor|hookspath|fsmonitor|askpass|gitproxy)|alias\.|credential\."
    r"|include(if)?\.|gpg\.\w*program|diff\..*(external|textconv|command)|filter\.|merge\..*driver"
    r"|sequence\.editor|url\..*insteadof|uploadpack\.|receive\.procreceiverefs"
)


def _git_config_sets(rest: tuple[str, ...]) -> bool:
    if any(a.startswith(("--get", "--list", "-l", "--show")) for a in rest):
        return False
    changes = ("--unset", "--add", "--replace", "--remove-section", "--rename-section", "-e")
    return len(positionals(rest)) >= 2 or any(a.startswith(changes) for a in rest)


def _git_push(rest: tuple[str, ...]) -> Decision | None:
    refspecs = positionals(rest, "--repo -o --push-option --receive-pack --exec".split())[1:]
    force = any(re.fullmatch(r"--force(=.*)?|-[A-Za-z]*f[A-Za-z]*", a) for a in rest) or any(
        r.startswith("+") for r in refspecs
    )
    delete = "--delete" in rest or flag(rest, "d") or any(r.startswith(":") for r in refspecs)
    targets = {r.lstrip("+").rsplit(":", 1)[-1].removeprefix("refs/heads/") for r in refspecs}
    hit = _MAIN_BRANCHES & targets
    what = "git push " + " ".join(rest)
    if (force or delete) and hit:
        return _git_main(what, min(hit))
    if force and ("--mirror" in rest or "--all" in rest or not refspecs or "HEAD" in targets):
        return _git_main(what, "the current branch (maybe main) or every branch")
    return None


def _git_main(what: str, branch: str) -> Decision:
    return deny(
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
_SIMULATE = words(
    "-s --simulate --just-print --dry-run --recon --no-act --assume-no --assumeno --test -p --print"
)


@applies_to(" ".join([*_REMOVE_VERBS, *_REMOVE_FLAGS, "pip pip3 python python3"]))
def _packages(cmd: Command, zones: Zones) -> Decision | None:
    name, args = cmd.name, cmd.args
    if name.startswith("python") and args[:2] == ("-m", "pip"):
        name, args = "pip", args[2:]
    if _SIMULATE & set(args):
        return None
    if name in _REMOVE_VERBS:
        verb = positionals(args, ["-o", "-c", "-t"])[:1]
        removes = bool(verb) and verb[0] in _REMOVE_VERBS[name].split()
    elif name in _REMOVE_FLAGS:
        removes = any(re.fullmatch(_REMOVE_FLAGS[name], a) for a in args)
    else:  # pip: only the system's own Python counts
        removes = "uninstall" in args and ("--break-system-packages" in args or "sudo" in cmd.via)
    if not removes:
        return None
    return deny(
        "remove-system-packages",
        f"`{cmd.name}` would remove system packages, which can break the machine. Remove "
        f"packages only from a project environment (a venv, node_modules) inside {zones.workdir}.",
    )


_FIREWALL_OFF = words("-F --flush -X --delete-chain -P --policy flush disable reset")


@applies_to(
    "passwd chpasswd useradd usermod userdel adduser deluser groupadd groupmod groupdel visudo "
    "vipw chsh insmod rmmod modprobe sysctl setenforce iptables ip6tables nft ufw"
)
def _sysadmin(cmd: Command, zones: Zones) -> Decision | None:
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
    return deny(
        "system-admin",
        f"`{cmd.name}` would change system accounts, kernel modules or kernel settings. "
        "Don't; tell the user what needs to change.",
    )
