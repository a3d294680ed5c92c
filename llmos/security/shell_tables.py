"""Tables of commands the shell analysis knows (shells, network tools, decoders, wrappers and
their options) and small helpers over expanded arguments."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from typing import Any

from llmos.security.lazy_regex import LazyRegex
from llmos.security.shell_types import UNKNOWN, Arg, Source, SourceKind


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELLS = words("sh bash zsh dash ksh mksh ash fish csh tcsh rbash yash posh busybox-sh")
# Interpreters whose programs `shell_code` reads (python -c, perl -e, awk, vim -c...).
INTERPRETER = LazyRegex(
    r"^(python[0-9.]*|pypy[0-9]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|bun|deno|php[0-9.]*|lua[0-9.]*"
    r"|luajit|Rscript|osascript|pwsh|powershell|awk|gawk|mawk|nawk|vim|vi|nvim|ex|view|tclsh)$"
)
NETWORK_TOOLS = words(
    "curl wget fetch aria2c http https xh lwp-request GET POST nc ncat netcat socat "
    "telnet openssl ssh"
)
_DECODE_FLAGS = {"base64": ("-d", "--decode", "-D"), "base32": ("-d", "--decode")}
_ALWAYS_DECODERS = words(
    "uudecode gunzip zcat gzcat bzcat xzcat zstdcat unxz bunzip2 unzstd rev tr"
)
# Commands that run the command after their own options (and `skip` operands, such as the
# duration of timeout): name, skip, options that take a value.
_WRAPPER_TABLE = """
sudo 0 -u -g -h -p -C -D -r -t -U -T --user --group --host --prompt --chdir --role --type
doas 0 -u -C
nice 0 -n --adjustment
ionice 0 -c -n --class --classdata
timeout 1 -s -k --signal --kill-after
stdbuf 0 -i -o -e --input --output --error
time 0 -f -o --format --output
exec 0 -a
chroot 1 --userspec --groups
flock 1 -w -E --timeout --conflict-exit-code
caffeinate 0 -t -w
proxychains 0 -f
proxychains4 0 -f
runuser 0 -u -g -G --user --group
strace 0 -o -e -p -s -u -E -P -a -b -I -X -O -S
ltrace 0 -o -e -p -s -u -E -a -n
xvfb-run 0 -n -s -f -e -p
screen 0 -S -c -p -T -h -t -e -L -Logfile
nohup 0
setsid 0
unbuffer 0
command 0
builtin 0
torsocks 0
chronic 0
catchsegv 0
fakeroot 0
firejail 0
"""
WRAPPERS = {
    name: (int(skip), frozenset(opts))
    for name, skip, *opts in (line.split() for line in _WRAPPER_TABLE.strip().splitlines())
}
XARGS_VALUE = words(
    "-I -d -E -e -L -l -n -P -s -a --arg-file --delimiter --max-args --max-procs "
    "--max-lines --replace --eof --max-chars --process-slot-var"
)
PARALLEL_VALUE = words(
    "-j --jobs -S --sshlogin --joblog --results --delay --timeout --halt -a --arg-file "
    "--colsep -d --delimiter -n --max-args -N -L -P --tmpdir --workdir --env -E --retries "
    "--memfree"
)
MAX_ITEMS = 16
TMUX_RUNS = words("new new-session new-window neww split-window splitw respawn-pane run-shell")


def skip_options(args: list[Arg], value_opts: frozenset[str], skip: int = 0) -> int:
    """Index of the wrapped command in `args`, after the wrapper's options and `skip` operands."""
    i = 0
    while i < len(args):
        a = args[i].text
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        cluster_value = re.fullmatch(r"-[A-Za-z]+", a) is not None and "-" + a[-1] in value_opts
        i += 2 if a in value_opts or cluster_value else 1
    return i + skip


def iter_nodes(node: Any) -> Iterator[Any]:
    yield node
    for attr in ("parts", "list"):
        for child in getattr(node, attr, None) or []:
            yield from iter_nodes(child)
    for attr in ("command", "body"):
        child = getattr(node, attr, None)
        if child is not None and hasattr(child, "kind"):
            yield from iter_nodes(child)


def has_url(args: list[Arg]) -> bool:
    return any(re.match(r"https?://", a.text) for a in args)


def text_source(args: list[Arg], suffix: str = "") -> Source:
    taint = frozenset().union(*(a.taint for a in args))
    kind: SourceKind = (
        "network" if "network" in taint else "decoded" if "decoded" in taint else "text"
    )
    return Source(kind, " ".join(a.text for a in args) + suffix)


def join_args(args: list[Arg]) -> Arg:
    return Arg(
        " ".join(a.text for a in args),
        frozenset().union(*(a.taint for a in args)),
        frozenset().union(*(a.variables for a in args)),
    )


def input_items(src: Source | None, delimiter: str | None) -> list[Arg]:
    """The items xargs/parallel read from `src`."""
    if src is None or src.kind in ("unknown", "file", "network", "decoded"):
        taint = frozenset({src.kind}) & {"network", "decoded"} if src else frozenset()
        return [Arg(UNKNOWN, frozenset(taint))]
    if src.kind == "paths":  # find output: entries under each root
        return [Arg(os.path.join(p, "*")) for p in src.text.split("\n") if p]
    if delimiter is None:
        try:
            parts = shlex.split(src.text)
        except ValueError:
            parts = src.text.split()
    else:
        parts = [p for p in src.text.split(delimiter) if p.strip()]
    return [Arg(p) for p in parts] or [Arg("")]


def is_decoder(name: str, texts: list[str]) -> bool:
    if name in _DECODE_FLAGS or name == "basenc":
        return any(
            t in _DECODE_FLAGS.get(name, ("-d", "--decode")) or re.fullmatch(r"-\w*d\w*", t)
            for t in texts
        )
    if name == "xxd":
        return any(re.fullmatch(r"-\w*r\w*", t) for t in texts)
    if name == "openssl":
        return bool({"base64", "enc"} & set(texts)) and "-d" in texts
    if name in ("gzip", "bzip2", "xz", "zstd", "lz4"):
        return any(re.fullmatch(r"-\w*d\w*|--decompress", t) for t in texts)
    return name in _ALWAYS_DECODERS


def find_roots(texts: list[str]) -> list[str]:
    roots = []
    for t in texts:
        if t.startswith("-") or t in ("(", "!", ")"):
            break
        roots.append(t)
    return roots or ["."]
