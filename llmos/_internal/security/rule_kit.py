"""What the per-command rules are built from: the registry that maps a command name to its
checks, and helpers to read a command's operands, options and paths."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from llmos._internal.security.decision import HARD_RULES, Decision
from llmos._internal.security.shell_types import Command
from llmos._internal.security.zones import Target, Zones, target

Check = Callable[[Command, Zones], "Decision | None"]
Verdict = Callable[[str, Target, Zones], "Decision | None"]
BY_NAME: dict[str, list[Check]] = {}


def applies_to(names: str) -> Callable[[Check], Check]:
    """Register a check for the commands `names` (space-separated)."""

    def register(check: Check) -> Check:
        for name in names.split():
            BY_NAME.setdefault(name, []).append(check)
        return check

    return register


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def positionals(args: Iterable[str], value_opts: Iterable[str] = ()) -> list[str]:
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


def option_values(args: tuple[str, ...], *names: str) -> list[str]:
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


def flag(args: Iterable[str], short: str, *long: str) -> bool:
    """Whether the short flag (alone or in a cluster like ``-rf``) or a long form is given."""
    return any(a in long or (re.fullmatch(r"-\w+", a) and short in a[1:]) for a in args)


def first_hard(decisions: Iterable[Decision | None]) -> Decision | None:
    """The first hard verdict among `decisions`, else the first one at all."""
    first = None
    for decision in decisions:
        if decision is None:
            continue
        if decision.rule in HARD_RULES:
            return decision
        first = first or decision
    return first


def each(
    verdict: Verdict,
    cmd: Command,
    texts: Iterable[str],
    zones: Zones,
    *,
    children: bool = False,
    follow_last: bool = True,
) -> Decision | None:
    """The verdict on the paths `texts`: a hard one if any path gets one, else the first."""

    def judge(text: str) -> Decision | None:
        t = target(text, cmd, zones, follow_last=follow_last)
        if t is None:
            return None
        return verdict(cmd.name, Target(t.path, True, t.guessed) if children else t, zones)

    return first_hard(judge(text) for text in texts)
