"""Rules about the machine: killing every process (or the session, or init), shutting down
(also over D-Bus), persistence (cron, services, timers, lingering sessions), disks, containers,
removing system packages and system administration (accounts, kernel, mounts, firewall,
network, boot, clock, alternatives, capabilities). Git's rules are in `rules_git`."""

from __future__ import annotations

import re

from llmos._internal.security.decision import Decision, deny
from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.rule_kit import applies_to, flag, positionals, words
from llmos._internal.security.shell_tables import CRITICAL
from llmos._internal.security.shell_types import UNKNOWN, Command
from llmos._internal.security.verdicts import container_escape, disk_wipe, history_tampering, setuid
from llmos._internal.security.zones import Zones, shown, target


@applies_to("kill killall killall5 pkill skill slay")
def _kill(cmd: Command, zones: Zones) -> Decision | None:
    args = list(cmd.args)
    if cmd.name == "kill":
        if args[:1] and args[0] in ("-s", "-n", "--signal"):
            args = args[2:]
        elif args[:1] and args[0].startswith("-") and args[0] not in ("--", "-1"):
            args = args[1:]  # the signal
        pids = [a for a in args if a != "--"]
        everything = any(p in ("-1", "1") for p in pids) or any(
            "processes" in a.taint for a in cmd.argv
        )
    elif cmd.name == "killall5":
        everything = True
    elif cmd.name in ("skill", "slay"):
        everything = True  # by user or terminal: every process of it
    else:
        from llmos._internal.security.shell_tables import matches_every_process

        everything = matches_every_process(cmd.name, args)
        value_opts = "-s --signal -u --user -U -g -G -P -t -F -o -y --uid --euid".split()
        names = positionals(args, value_opts)
        if CRITICAL & set(names) or any(n.strip("^$") in CRITICAL for n in names):
            everything = True
    if not everything:
        return None
    return deny(
        "kill-all",
        f"`{cmd.name}` would signal every process (or init, or the processes the machine and "
        "your session run on), not just yours. Kill a specific PID, or use pkill with a "
        "precise pattern.",
    )


_STOP_VERBS = words(
    "poweroff reboot halt kexec emergency rescue suspend hibernate hybrid-sleep soft-reboot"
)


@applies_to(
    "shutdown reboot halt poweroff init telinit systemctl loginctl kexec rtcwake pm-suspend "
    "pm-hibernate pm-suspend-hybrid"
)
def _shutdown(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args)
    if cmd.name in ("shutdown", "reboot", "halt", "poweroff"):
        stops = not flag(cmd.args, "c", "--cancel") and "-k" not in cmd.args
    elif cmd.name in ("init", "telinit"):
        stops = operands[:1] in (["0"], ["6"], ["1"], ["s"], ["S"])
    elif cmd.name == "kexec":
        stops = flag(cmd.args, "e", "--exec") or "-f" in cmd.args
    elif cmd.name == "rtcwake":
        stops = not any(a in ("-m", "--mode") for a in cmd.args) or any(
            m in cmd.args for m in ("off", "disk", "mem", "standby", "freeze")
        )
    elif cmd.name.startswith("pm-"):
        stops = True
    elif operands[:1] == ["isolate"]:
        target = (operands[1:2] or [""])[0].removesuffix(".target")
        stops = target in _STOP_VERBS or target in ("runlevel0", "runlevel6", "runlevel1")
    else:
        stops = bool(_STOP_VERBS & set(operands[:1]))
    if not stops:
        return None
    return _stops(cmd.name)


def _stops(name: str) -> Decision:
    return deny(
        "shutdown",
        f"`{name}` would shut down or restart the machine. Don't; tell the user if a "
        "restart is needed.",
    )


@applies_to("loginctl")
def _sessions(cmd: Command, zones: Zones) -> Decision | None:
    verb = (positionals(cmd.args)[:1] or [""])[0]
    if verb in ("terminate-user", "kill-user", "terminate-session", "kill-session",
                "terminate-seat", "flush-devices"):  # fmt: skip
        return deny(
            "kill-all",
            f"`loginctl {verb}` would end a user's whole session and every process in it. "
            "Kill a specific PID instead.",
        )
    if verb == "enable-linger":
        return _persists(cmd.name)
    return None


# D-Bus methods of logind and systemd, by what calling them does.
_DBUS_METHODS = LazyRegex(
    r"(?P<shutdown>\b(PowerOff|Reboot|Halt|KExec|Suspend|Hibernate|HybridSleep"
    r"|SuspendThenHibernate|SoftReboot|RebootWithFlags|PowerOffWithFlags)\b)"
    r"|(?P<kill>\b(KillUser|KillSession|TerminateUser|TerminateSession|TerminateSeat)\b)"
    r"|(?P<persist>\b(EnableUnitFiles|LinkUnitFiles|StartTransientUnit|SetDefaultTarget)\b)"
    r"|(?P<admin>\b(StopUnit|KillUnit|MaskUnitFiles|DisableUnitFiles|SetUnitProperties"
    r"|SetHostname|SetStaticHostname|SetTime|SetTimezone|SetLocale)\b)"
)


@applies_to("dbus-send gdbus busctl qdbus qdbus6 dbus")
def _dbus(cmd: Command, zones: Zones) -> Decision | None:
    m = _DBUS_METHODS.search(" ".join(cmd.args))
    if m is None:
        return None
    if m.group("shutdown"):
        return _stops(cmd.name)
    if m.group("kill"):
        return deny(
            "kill-all",
            f"`{cmd.name}` would end a user's whole session over D-Bus. Kill a specific PID.",
        )
    if m.group("persist"):
        return _persists(cmd.name)
    return _administers(cmd.name)


@applies_to("crontab at batch launchctl systemctl update-rc.d chkconfig rc-update")
def _persistence(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args)
    verb = set(operands[:1])
    if cmd.name == "systemctl":
        if {"disable", "mask", "stop", "kill", "set-property", "revert"} & verb and (
            "--user" not in cmd.args
        ):
            return _administers("systemctl " + operands[0])
        if not {"enable", "link", "set-default", "reenable", "preset", "add-wants"} & verb:
            return None
    if cmd.name == "launchctl" and not {"load", "bootstrap", "submit", "enable"} & verb:
        return None
    if cmd.name == "crontab" and "-l" in cmd.args:
        return None
    if cmd.name in ("at", "batch") and {"-l", "-c", "-r", "-d"} & set(cmd.args):
        return None
    if cmd.name == "update-rc.d" and not {"defaults", "enable"} & set(operands[1:2]):
        return None if "remove" in operands else _administers(cmd.name)
    if cmd.name == "chkconfig" and not {"on", "--add"} & set(cmd.args):
        return None if "--list" in cmd.args or not operands else _administers(cmd.name)
    if cmd.name == "rc-update" and "add" not in verb:
        return None if verb <= {"show", "-s", ""} else _administers(cmd.name)
    return _persists(cmd.name)


def _persists(name: str) -> Decision:
    return deny(
        "persistence",
        f"`{name}` would install something that later runs on its own (cron, services, "
        "timers, at jobs). Don't set up persistence; tell the user what should be scheduled.",
    )


_DISK_TOOLS = (
    "wipefs sgdisk sfdisk gdisk fdisk cfdisk parted blkdiscard mkswap mke2fs badblocks hdparm "
    "nvme cryptsetup mdadm zpool lvremove vgremove pvremove dmsetup fsck e2fsck xfs_repair "
    "tune2fs resize2fs e2label"
)
_ZPOOL_CHANGES = words("destroy create labelclear remove detach offline split replace add attach")
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
    if cmd.name in ("fsck", "e2fsck", "xfs_repair") and args & {"-n", "-N", "--dry-run"}:
        return None
    if cmd.name == "tune2fs" and args <= {"-l", *devices}:
        return None
    if cmd.name == "zpool" and not _ZPOOL_CHANGES & args:
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


# ---------------------------------------------------- packages, system administration

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


# Commands that change the system, by the arguments that make them change it (a pattern
# searched in the arguments joined by spaces; "" : any use). Reading them is allowed.
_SYSTEM_CHANGES = {
    "mount": r"\S",
    "umount": r"",
    "swapon": r"\S",
    "swapoff": r"",
    "update-alternatives": r"--(install|set|remove|remove-all|config|auto|all|set-selections)\b",
    "alternatives": r"--(install|set|remove|remove-all|config|auto|all|set-selections)\b",
    "timedatectl": r"\bset-",
    "hostnamectl": r"\bset-|\bhostname\s+\S",
    "localectl": r"\bset-",
    "hostname": r"^(?!-)\S+$|\s(-b|--boot|-F|--file)\b",
    "date": r"(^|\s)(-s|--set)\b",
    "hwclock": r"--(systohc|hctosys|set|adjust)\b|(^|\s)-[wsa]\b",
    "ldconfig": r"^(?!.*(-p|--print-cache|-v|--verbose)).*$",
    "update-grub": r"",
    "update-grub2": r"",
    "grub-install": r"",
    "grub2-install": r"",
    "grub-mkconfig": r"(-o|--output)\b",
    "grub2-mkconfig": r"(-o|--output)\b",
    "efibootmgr": r"(^|\s)-([cbBoOnNaAt]|-create|-delete-bootnum|-bootorder|-bootnext|-active)\b",
    "bootctl": r"\b(install|update|remove|set-default|set-oneshot)\b",
    "update-initramfs": r"",
    "mkinitcpio": r"",
    "dracut": r"",
    "dpkg-reconfigure": r"",
    "debconf-set-selections": r"",
    "add-apt-repository": r"",
    "apt-key": r"\b(add|adv|del)\b",
    "gpasswd": r"",
    "newusers": r"",
    "vigr": r"",
    "aa-disable": r"",
    "aa-complain": r"",
    "apparmor_parser": r"(^|\s)-(R|-remove)\b",
    "ifconfig": r"\S+\s+(down|up|inet|netmask|mtu|hw|promisc|\d)",
    "route": r"\b(add|del|delete|flush)\b",
    "ip": r"^(-\S+\s+)*(link\s+(set|add|del|delete)|a(ddr(ess)?)?\s+(add|del|delete|flush)"
    r"|r(oute)?\s+(add|del|delete|flush|replace|change)|rule\s+(add|del)|netns\s+(add|del|delete)"
    r"|neigh\s+(add|del|flush)|tunnel\s+(add|del))\b",
    "nmcli": r"\b(networking\s+off|radio\s+\w+\s+off|con(nection)?\s+(down|delete|modify)"
    r"|dev(ice)?\s+(disconnect|delete|set)|general\s+hostname\s+\S)",
    "rfkill": r"\bblock\b",
    "resolvectl": r"\b(dns|domain|revert|flush-caches)\b\s*\S",
    "chcon": r"",
    "semanage": r"\b(-a|-d|-m|--add|--delete|--modify)\b",
    "auditctl": r"(^|\s)(-D|-e\s*0)\b",
}


@applies_to(" ".join(_SYSTEM_CHANGES))
def _system_changes(cmd: Command, zones: Zones) -> Decision | None:
    pattern = _SYSTEM_CHANGES[cmd.name]
    joined = " ".join(cmd.args)
    if cmd.name in ("mount", "swapon") and set(cmd.args) <= {
        "-l",
        "--show",
        "-s",
        "--summary",
        "-v",
    }:
        return None
    if pattern and not re.search(pattern, joined):
        return None
    return _administers(" ".join([cmd.name, *cmd.args[:2]]))


def _administers(what: str) -> Decision:
    return deny(
        "system-admin",
        f"`{what}` would change the system (accounts, services, kernel, mounts, network, boot "
        "or clock). Don't; tell the user what needs to change.",
    )


@applies_to("journalctl")
def _journal(cmd: Command, zones: Zones) -> Decision | None:
    if any(a.startswith(("--vacuum-", "--rotate")) for a in cmd.args):
        return history_tampering(cmd.name, "the system journal")
    return None


@applies_to("setcap")
def _setcap(cmd: Command, zones: Zones) -> Decision | None:
    """File capabilities are setuid by other means: a program that gains root's powers."""
    if "-v" in cmd.args or "--verify" in cmd.args:
        return None
    caps = [a for a in cmd.args if re.search(r"[+=][eip]+|^cap_", a, re.I)]
    if not caps:
        return None if "-r" not in cmd.args else _administers("setcap -r")
    return setuid(cmd.name)
