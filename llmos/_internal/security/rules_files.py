"""Rules about deleting, writing, copying and archiving files, and changing permissions:
`rm`, `find -delete`, `mv`, `cp`/`install`/`ln`, `touch`/`mkdir`/`tee`..., `sed -i`, `dd`,
`rsync`/`scp`, `tar`, `zip`, `unzip`, `chmod`/`chown`/`chattr`/`setfacl`."""

from __future__ import annotations

import re

from llmos._internal.security.decision import Decision, deny
from llmos._internal.security.rule_kit import (
    applies_to,
    each,
    first_hard,
    flag,
    option_values,
    positionals,
    words,
)
from llmos._internal.security.rules_secrets import copies_home, upload
from llmos._internal.security.shell_types import Command
from llmos._internal.security.verdicts import delete_verdict, setuid, write_verdict
from llmos._internal.security.zones import Zones, shown, target, what


@applies_to("rm rmdir unlink shred srm trash trash-put wipe rimraf del-cli del")
def _rm(cmd: Command, zones: Zones) -> Decision | None:
    value_opts = "-n -s --iterations --size --random-source" if cmd.name == "shred" else ""
    operands = positionals(cmd.args, value_opts.split())
    return each(delete_verdict, cmd, operands, zones, follow_last=False)


@applies_to("find")
def _find(cmd: Command, zones: Zones) -> Decision | None:
    if "-delete" not in cmd.args:
        return None
    roots = []
    for a in cmd.args:
        if a.startswith("-") or a in ("(", "!"):
            break
        roots.append(a)
    return each(delete_verdict, cmd, roots or ["."], zones, children=True)


def _destination(cmd: Command, operands: list[str]) -> tuple[list[str], list[str]]:
    """(sources, destinations) of cp, mv, install and ln."""
    target = option_values(cmd.args, "-t", "--target-directory")
    if target:
        return operands, target
    return (operands[:-1], operands[-1:]) if len(operands) >= 2 else (operands, [])


_COPY_OPTS = "-t --target-directory -S --suffix -m --mode -o --owner -g --group".split()


@applies_to("mv")
def _mv(cmd: Command, zones: Zones) -> Decision | None:
    sources, dest = _destination(cmd, positionals(cmd.args, _COPY_OPTS))
    moved = each(delete_verdict, cmd, sources, zones, follow_last=False)
    return first_hard([moved, each(write_verdict, cmd, dest, zones)])


@applies_to("cp install ln")
def _cp(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args, _COPY_OPTS)
    if cmd.name == "install":
        if any(_is_setuid(m) for m in option_values(cmd.args, "-m", "--mode")):
            return setuid(cmd.name)
        if flag(cmd.args, "d", "--directory"):
            return each(write_verdict, cmd, operands, zones)
    sources, dest = _destination(cmd, operands)
    copied = copies_home(cmd, sources, zones) if cmd.name == "cp" else None
    return first_hard([copied, each(write_verdict, cmd, dest, zones, follow_last=cmd.name != "ln")])


def _writes_operands(names: str, value_opts: str = "") -> None:
    def check(cmd: Command, zones: Zones) -> Decision | None:
        return each(write_verdict, cmd, positionals(cmd.args, value_opts.split()), zones)

    applies_to(names)(check)


_writes_operands("touch", "-d -t -r --date --reference")
_writes_operands("mkdir", "-m --mode --context")
_writes_operands("truncate", "-s --size -r --reference")
_writes_operands("tee sponge sudoedit")


@applies_to("sed")
def _sed(cmd: Command, zones: Zones) -> Decision | None:
    if not any(a.startswith("--in-place") or re.fullmatch(r"-[A-Za-z]*i.*", a) for a in cmd.args):
        return None
    operands = positionals(cmd.args, "-e -f --expression --file -l --line-length".split())
    if not option_values(cmd.args, "-e", "-f", "--expression", "--file"):
        operands = operands[1:]  # the first operand is the script
    return each(write_verdict, cmd, operands, zones)


@applies_to("dd")
def _dd(cmd: Command, zones: Zones) -> Decision | None:
    return each(write_verdict, cmd, [a[3:] for a in cmd.args if a.startswith("of=")], zones)


_RSYNC_OPTS = words(
    "-e --rsh --exclude --include --filter -f --files-from --log-file --backup-dir --link-dest "
    "--compare-dest --copy-dest --partial-dir --temp-dir -T --password-file --chmod --chown "
    "--exclude-from --include-from -B --block-size --max-size --min-size --timeout --port "
    "--bwlimit"
)
_SCP_OPTS = "-i -P -F -o -c -l -S -J".split()


def _remote(path: str) -> bool:
    return re.match(r"^[^/]*:", path) is not None


@applies_to("rsync scp")
def _copy_remote(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args, _RSYNC_OPTS if cmd.name == "rsync" else _SCP_OPTS)
    if len(operands) < 2:
        return None
    sources, dest = operands[:-1], operands[-1]
    local = [s for s in sources if not _remote(s)]
    if {"--remove-source-files", "--remove-sent-files"} & set(cmd.args):  # deleted once copied
        removed = each(delete_verdict, cmd, local, zones, children=True)
        if removed is not None:
            return removed
    if _remote(dest):
        sent = upload(cmd, local, zones)
    elif any(a.startswith("--delete") or a == "--remove-source-files" for a in cmd.args):
        sent = each(delete_verdict, cmd, [dest], zones, children=True)
    else:
        sent = each(write_verdict, cmd, [dest], zones)
    return first_hard([copies_home(cmd, local, zones), sent])


@applies_to("tar")
def _tar(cmd: Command, zones: Zones) -> Decision | None:
    args = cmd.args
    first = args[0] if args else ""
    modes = first.lstrip("-") if re.fullmatch(r"-?[A-Za-z]+", first) else ""
    modes += "".join(a[1:] for a in args[1:] if re.fullmatch(r"-[A-Za-z]+", a))
    archive = option_values(args, "--file")
    archive += [
        args[k + 1]
        for k, a in enumerate(args[:-1])
        if re.fullmatch(r"-?[A-Za-z]*f", a) and (k == 0 or a.startswith("-"))
    ]
    if "x" in modes or {"--extract", "--get"} & set(args):
        return each(write_verdict, cmd, option_values(args, "-C", "--directory"), zones)
    if set("cru") & set(modes) or {"--create", "--append", "--update"} & set(args):
        value_opts = ["-f", "--file", "-C", "--directory", "-T", "--files-from", "--exclude"]
        sources = [a for a in positionals(args[1:], value_opts) if a not in archive]
        copied = copies_home(cmd, sources, zones)
        written = each(write_verdict, cmd, [a for a in archive if a != "-"], zones)
        removed = (
            each(delete_verdict, cmd, sources, zones, follow_last=False)
            if "--remove-files" in args
            else None
        )
        return first_hard([removed, copied, written])
    return None


@applies_to("zip 7z 7za")
def _zip(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args, ["-x", "-i", "-b", "-n", "-t", "-tt"])
    if cmd.name != "zip":
        operands = operands[1:]  # 7z a archive.7z sources...
    copied = copies_home(cmd, operands[1:], zones)
    moved = any(  # the sources are deleted once archived
        a in ("--move", "-sdel") or (cmd.name == "zip" and re.fullmatch(r"-[A-Za-z]*m[A-Za-z]*", a))
        for a in cmd.args
    )
    removed = each(delete_verdict, cmd, operands[1:], zones, follow_last=False) if moved else None
    return first_hard([removed, copied, each(write_verdict, cmd, operands[:1], zones)])


_KEEPS = frozenset("-c --stdout --to-stdout -k --keep -l --list -t --test -h --help".split())


@applies_to("gzip gunzip bzip2 bunzip2 xz unxz lzma unlzma zstd unzstd lz4 pigz compress")
def _compress_in_place(cmd: Command, zones: Zones) -> Decision | None:
    """gzip FILE replaces FILE by FILE.gz (and gunzip the other way): the original goes."""
    args = set(cmd.args)
    if args & _KEEPS or any(re.fullmatch(r"-[a-zA-Z0-9]*[cklt][a-zA-Z0-9]*", a) for a in args):
        return None
    if cmd.name in ("zstd", "unzstd", "lz4") and "--rm" not in args:
        return None  # they keep the original unless told otherwise
    value_opts = ["-S", "--suffix", "-b", "-e", "-T", "--threads", "-o"]
    return each(delete_verdict, cmd, positionals(cmd.args, value_opts), zones, follow_last=False)


@applies_to("unzip")
def _unzip(cmd: Command, zones: Zones) -> Decision | None:
    return each(write_verdict, cmd, option_values(cmd.args, "-d"), zones)


# --------------------------------------------------------------------------- permissions


def _is_setuid(mode: str) -> bool:
    if re.fullmatch(r"0*[0-7]{4}", mode):
        return int(mode[-4]) & 6 != 0
    return any(re.search(r"[+=][rwxXt]*s", part) for part in mode.split(","))


_ACL_OPTS = "-m -M -x -X --modify --modify-file --remove --remove-file --set --set-file".split()


@applies_to("chmod chown chgrp chattr setfacl")
def _chmod(cmd: Command, zones: Zones) -> Decision | None:
    operands = positionals(cmd.args, _ACL_OPTS if cmd.name == "setfacl" else ["--from"])
    if cmd.name == "chattr":
        operands = [o for o in operands if not re.fullmatch(r"[+=][A-Za-z]+", o)]
    elif cmd.name != "setfacl" and not any(a.startswith("--reference") for a in cmd.args):
        mode, operands = (operands[0] if operands else ""), operands[1:]
        if cmd.name == "chmod" and _is_setuid(mode):
            return setuid(cmd.name)
    recursive = " recursively" if flag(cmd.args, "R", "--recursive") else ""
    for text in operands:
        t = target(text, cmd, zones)
        zone = zones.zone(t.path) if t else "workdir"
        if t and zone in ("protected", "device", "sink"):
            return deny(
                "chmod-protected-path",
                f"`{cmd.name}` would change permissions or ownership of {shown(t.path, zones)}"
                f"{recursive}: {what(t.path, zones)}. Only change files inside {zones.workdir}.",
            )
        if t and zone == "outside" and not t.guessed:
            return write_verdict(cmd.name, t, zones)
    return None
