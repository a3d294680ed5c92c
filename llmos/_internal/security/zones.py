"""Where a path lies: the workspace, scratch space, a device, a protected location, llmos's own
state, or elsewhere; and how a command's path argument is resolved (``~``, ``..``, symlinks,
globs, run-time parts) before the rules judge it."""

# No `from __future__ import annotations` here: NamedTuple compiles string annotations at
# import (see shell_types).

import fnmatch
import functools
import os
import re
import tempfile
from typing import Literal, NamedTuple

from llmos._internal.security.globs import path_pattern
from llmos._internal.security.lazy_regex import LazyRegex
from llmos._internal.security.shell_types import UNKNOWN, Command

Zone = Literal["workdir", "temp", "sink", "network", "device", "protected", "outside"]
SYSTEM = frozenset(
    "/etc /usr /bin /sbin /boot /var /lib /lib32 /lib64 /libx32 /opt /root /sys /proc /dev /srv "
    "/snap /run /mnt /media /nix /System /Library /Applications /private /cores /Volumes".split()
)
_SINKS = frozenset(
    "/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/stdout /dev/stderr /dev/stdin "
    "/dev/tty".split()
)
_BLOCK_DEVICE = LazyRegex(
    r"^/dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|md\d|dm-|loop|sr\d|nbd|zd|mapper/|root|fd\d"
    r"|mtd|sg\d|ram)"
)


def within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class Zones(NamedTuple):
    """Where things are: the workspace, home, scratch space, llmos's own files (`guarded`),
    the places the user's policy lets the agent use like the workspace (`allowed`), and how to
    classify a path."""

    workdir: str
    home: str
    temps: tuple[str, ...]
    homes: str  # the folder holding users' homes (/home, /Users), "" when it is not known
    guarded: tuple[str, ...] = ()
    allowed: re.Pattern[str] | None = None

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
        if within(path, self.workdir):
            return "workdir"
        if path in _SINKS or re.match(r"^/(dev|proc/self)/fd/\d+$|^/dev/pts/", path):
            return "sink"
        if path.startswith(("/dev/tcp/", "/dev/udp/")):
            return "network"
        if _BLOCK_DEVICE.match(path):
            return "device"
        if path == "/" or within(self.home, path) or within(self.workdir, path):
            return "protected"
        if within(path, self.home) or (self.homes and within(path, self.homes)):
            return "outside"
        if any(within(path, t) and path != t for t in self.temps):
            return "temp"
        if any(within(path, s) for s in SYSTEM):
            return "protected"
        return "outside"

    def is_system(self, path: str) -> bool:
        return path == "/" or any(within(path, s) for s in SYSTEM)

    def is_guarded(self, path: str, *, or_above: bool = False) -> bool:
        """Whether `path` is (or, with `or_above`, contains) one of llmos's own files."""
        return any(within(path, g) or (or_above and within(g, path)) for g in self.guarded)

    def user_allowed(self, path: str) -> bool:
        """Whether the user's policy lets the agent use `path` as it uses the workspace."""
        return self.allowed is not None and self.allowed.match(path) is not None


@functools.lru_cache(maxsize=64)
def zones_for(
    workdir: str, home: str, guarded: tuple[str, ...] = (), allowed: tuple[str, ...] = ()
) -> Zones:
    temps = {"/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir(), os.environ.get("TMPDIR")}
    known = {t for t in temps if t}
    real = tuple(sorted(known | {os.path.realpath(t) for t in known}))
    home = os.path.realpath(home)
    workdir = os.path.realpath(workdir)
    homes = os.path.dirname(home)
    homes = "" if homes == "/" or homes in real else homes
    guarded = tuple(os.path.realpath(g) for g in guarded)
    return Zones(workdir, home, real, homes, guarded, path_pattern(allowed, home, workdir))


class Target(NamedTuple):
    path: str
    children: bool  # from a glob: what is acted on are the entries inside `path`
    guessed: bool  # run-time parts were dropped: what an empty variable would give


def target(text: str, cmd: Command, zones: Zones, *, follow_last: bool = True) -> Target | None:
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
    # `link/*` and `link/` act on what the link points to, not on the link itself.
    follow = follow_last or children or text.endswith("/")
    path = zones.locate(text, cmd.cwd, follow_last=follow)
    if cmd.links:
        path, unknown = through_links(path, cmd.links, follow_last=follow)
        guessed = guessed or unknown
    return Target(path, children, guessed)


def through_links(
    path: str, links: tuple[tuple[str, str], ...], *, follow_last: bool = True
) -> tuple[str, bool]:
    """`path` through the symbolic links a command made earlier (``ln -s ~ link``), which
    are not on disk while it is judged; and whether a link's target was only partly known."""
    unknown = False
    for _ in range(8):
        hop = next(
            (
                (link, dest)
                for link, dest in links
                if within(path, link) and (follow_last or path != link)
            ),
            None,
        )
        if hop is None:
            break
        link, dest = hop
        if UNKNOWN in dest:
            unknown = True
            dest = dest.replace(UNKNOWN, "") or "/"
        path = os.path.realpath(dest + path[len(link) :])
    return path, unknown


def shown(path: str, zones: Zones) -> str:
    if path != zones.home and within(path, zones.home) and not within(path, zones.workdir):
        return "~" + path[len(zones.home.rstrip("/")) :]
    return path


def what(path: str, zones: Zones) -> str:
    if path == "/":
        return "the root of the file system"
    if path == zones.home:
        return "your home folder"
    if within(zones.home, path):
        return "a folder that contains your home folder"
    if path == zones.workdir:
        return "the workspace itself"
    if within(zones.workdir, path):
        return "a folder that contains the workspace"
    return "a system location"
