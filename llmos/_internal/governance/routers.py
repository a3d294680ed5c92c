"""Policy routers: after each step and at the end of a run, a rule may change the run's course.

Declarative routers, one per entry of `governance.routes` in policy.yaml:

    - when: the same command failed 3 times
      then: hand over to coder

Conditions (`when`):

    the same command failed N times   one command line failed N times
    N failures                        N steps failed, whatever they were
    N% of the budget spent [before S | without S]
                                      the run spent N% of its budget (and has not done S)
    S N times                         N steps matched selector S (`network 5 times`)
    N denials                         N calls were denied (by any guard)
    S                                 a step matching S just finished (`credential-read`)
    finish without S                  the run is finishing and never did S

Actions (`then`):

    hand over to AGENT   end this agent run; the rest of the goal is a new run as that llmos
                         agent (`llmos agents list`), told what was done and why
    switch model to M    the rest of the run uses model M (the SDK's set_model)
    ask a human          stop and ask: go on, or end the run (no human: the run ends)
    stop                 end the run

Each router fires at most once per run. Plugins add Python routers (`@plugin.router`):
`function(history)` returns a `Route` or None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal

from llmos._internal.frozen import frozen
from llmos._internal.governance.history import History, Step
from llmos._internal.governance.selectors import Selector, VocabularyError, parse_selector
from llmos._internal.security.lazy_regex import LazyRegex

log = logging.getLogger(__name__)

Action = Literal["handoff", "model", "ask", "stop"]
ACTIONS: tuple[Action, ...] = ("handoff", "model", "ask", "stop")


@frozen
class Route:
    """What a router decided: `action` with its `target` (an agent, a model), and why."""

    action: Action
    target: str | None = None
    reason: str = ""
    router: str = ""

    def describe(self) -> str:
        match self.action:
            case "handoff":
                return f"hand over to {self.target}"
            case "model":
                return f"switch model to {self.target}"
            case "ask":
                return "ask a human"
        return "stop"


# Conditions --------------------------------------------------------------------------------
class Condition:
    """A router's condition: `after_step` once per finished step, `at_end` when the run would
    finish. Each returns why it holds, or None."""

    def after_step(self, history: History, step: Step) -> str | None:
        return None

    def at_end(self, history: History) -> str | None:
        return None


@frozen
class SameCommandFailed(Condition):
    """`the same command failed N times`: one command line failed N times."""

    times: int

    def after_step(self, history: History, step: Step) -> str | None:
        if step.ok or not step.command:
            return None
        failed = history.times_failed(step.command)
        if failed >= self.times:
            return f"`{step.command.strip()[:80]}` failed {failed} times"
        return None


@frozen
class Failures(Condition):
    """`N failures`: N steps failed, whatever they were."""

    count: int

    def after_step(self, history: History, step: Step) -> str | None:
        return f"{history.failures} steps failed" if history.failures >= self.count else None


@frozen
class BudgetSpent(Condition):
    """`N% of the budget spent [without S]`: that share is spent (and S not done yet)."""

    percent: float
    unless: Selector | None = None

    def after_step(self, history: History, step: Step) -> str | None:
        return self._holds(history)

    def at_end(self, history: History) -> str | None:
        return self._holds(history)

    def _holds(self, history: History) -> str | None:
        budget = history.budget_usd
        if budget <= 0 or history.spent_usd < budget * self.percent / 100:
            return None
        if self.unless is not None and any(self.unless.matches(s) for s in history.steps):
            return None
        share = 100 * history.spent_usd / budget
        why = f"{share:.0f}% of the ${budget:.4f} budget spent"
        return why + (f" and no {self.unless} yet" if self.unless is not None else "")


@frozen
class Count(Condition):
    """`S N times`: N steps matched selector S."""

    selector: Selector
    times: int

    def after_step(self, history: History, step: Step) -> str | None:
        if not self.selector.matches(step):
            return None
        count = sum(1 for s in history.steps if self.selector.matches(s))
        return f"{count} steps were {self.selector}" if count >= self.times else None


@frozen
class Denials(Condition):
    """`N denials`: N calls were denied (by any guard)."""

    count: int

    def after_step(self, history: History, step: Step) -> str | None:
        denied = history.denials()
        return f"{denied} calls were denied" if denied >= self.count else None


@frozen
class Happened(Condition):
    """`S`: a step matching S just finished."""

    selector: Selector

    def after_step(self, history: History, step: Step) -> str | None:
        if self.selector.matches(step):
            return f"{step.describe()} was {self.selector}"
        return None


@frozen
class FinishWithout(Condition):
    """`finish without S`: the run is finishing and never did S."""

    selector: Selector

    def at_end(self, history: History) -> str | None:
        if any(self.selector.matches(s) for s in history.steps):
            return None
        return f"the run is finishing without {self.selector}"


# Routers -----------------------------------------------------------------------------------
@frozen
class Router:
    """A declarative router: when `condition` holds, take `route`."""

    name: str
    condition: Condition
    action: Action
    target: str | None = None

    def after_step(self, history: History, step: Step) -> Route | None:
        return self._route(self.condition.after_step(history, step))

    def at_end(self, history: History) -> Route | None:
        return self._route(self.condition.at_end(history))

    def _route(self, why: str | None) -> Route | None:
        if why is None:
            return None
        return Route(self.action, self.target, why, self.name)


RouterFunction = Callable[[History], Any]


@frozen
class PluginRouter:
    """A plugin's router: `function(history)` returns a `Route` or None. One that raises is
    logged and skipped: a router changes course, it does not guard."""

    name: str
    function: RouterFunction = field(compare=False)
    action: str = "plugin"
    target: str | None = None

    def after_step(self, history: History, step: Step) -> Route | None:
        return self._ask(history)

    def at_end(self, history: History) -> Route | None:
        return self._ask(history)

    def _ask(self, history: History) -> Route | None:
        try:
            route = self.function(history)
        except Exception as exc:
            log.warning("governance router %s raised %s", self.name, exc)
            return None
        if route is None:
            return None
        if not isinstance(route, Route) or route.action not in ACTIONS:
            log.warning("governance router %s returned %r, not a Route", self.name, route)
            return None
        return Route(route.action, route.target, route.reason, self.name)


AnyRouter = Router | PluginRouter

# Parsing -----------------------------------------------------------------------------------
_SAME = LazyRegex(r"^(?:the\s+)?same\s+command\s+failed\s+(\d+)\s+times?$|^(\d+)\s+failures?\s+"
                   r"of\s+the\s+same\s+command$")  # fmt: skip
_FAILURES = LazyRegex(r"^(\d+)\s+(?:failures|failed\s+steps?)$")
_BUDGET = LazyRegex(
    r"^(?:(\d+(?:\.\d+)?)\s*%\s+of\s+the\s+budget\s+spent|budget\s+(\d+(?:\.\d+)?)\s*%\s+spent)"
    r"(?:\s+(?:before|without)\s+(.+))?$"
)
_DENIALS = LazyRegex(r"^(\d+)\s+(?:denials|denied\s+calls?)$")
_TIMES = LazyRegex(r"^(.+?)\s+(\d+)\s+times?$")
_FINISH = LazyRegex(r"^(?:finish|at\s+the\s+end)\s+without\s+(.+)$")
_HANDOFF = LazyRegex(r"^(?:hand\s*(?:it\s+)?over\s+to|handoff(?:\s+to)?)\s+([\w.-]+)$")
_MODEL = LazyRegex(r"^(?:switch\s+(?:the\s+)?model\s+to|model)\s+([\w.:-]+)$")
_ASK = LazyRegex(r"^ask(?:\s+a\s+human)?$")


def parse_condition(text: str) -> Condition:
    said = " ".join(str(text).split())
    lowered = said.lower()
    if match := _SAME.match(lowered):
        return SameCommandFailed(_positive(match.group(1) or match.group(2)))
    if match := _FAILURES.match(lowered):
        return Failures(_positive(match.group(1)))
    if match := _BUDGET.match(lowered):
        percent = float(match.group(1) or match.group(2))
        if not 0 < percent <= 100:
            raise VocabularyError(f"{percent:g}% of the budget: expected a share above 0 to 100")
        unless = _selector(said[match.start(3) :], said) if match.group(3) else None
        return BudgetSpent(percent, unless)
    if match := _DENIALS.match(lowered):
        return Denials(_positive(match.group(1)))
    if match := _FINISH.match(lowered):
        return FinishWithout(_selector(said[match.start(1) :], said))
    if match := _TIMES.match(said):
        return Count(_selector(match.group(1), said), _positive(match.group(2)))
    return Happened(_selector(said, said))


def _selector(text: str, condition: str) -> Selector:
    """A condition's selector; a command must be in backticks here, so that a condition
    llmos does not know is refused instead of being taken for a command."""
    selector = parse_selector(text)
    if selector.command is not None and not text.strip().startswith("`"):
        raise VocabularyError(
            f"unknown condition {condition!r}; known: the same command failed N times, "
            "N failures, N% of the budget spent [before S], S N times, N denials, S, "
            "finish without S (S: a step kind, a tool, or a `command` in backticks)"
        )
    return selector


def _positive(digits: str) -> int:
    value = int(digits)
    if value < 1:
        raise VocabularyError("the count must be at least 1")
    return value


def parse_action(text: str) -> tuple[Action, str | None]:
    said = " ".join(str(text).split())
    lowered = said.lower()
    if _HANDOFF.match(lowered):
        return "handoff", said.split()[-1]
    if _MODEL.match(lowered):
        return "model", said.split()[-1]
    if _ASK.match(lowered):
        return "ask", None
    if lowered in ("stop", "end the run", "end"):
        return "stop", None
    raise VocabularyError(
        f"unknown action {said!r}; known: hand over to AGENT, switch model to MODEL, "
        "ask a human, stop"
    )


def parse_router(entry: Any, number: int) -> Router:
    if not isinstance(entry, dict):
        raise VocabularyError("a route is a mapping with `when:` and `then:`")
    unknown = sorted(str(k) for k in entry if k not in ("when", "then", "name"))
    if unknown:
        raise VocabularyError(f"unknown key(s) {', '.join(unknown)}; a route has when, then, name")
    for key in ("when", "then"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise VocabularyError(f"a route needs `{key}:` (a sentence)")
    condition = parse_condition(entry["when"])
    action, target = parse_action(entry["then"])
    name = entry.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise VocabularyError("name: expected a non-empty string")
    label = name or f"route {number}: when {' '.join(entry['when'].split())}"
    return Router(label, condition, action, target)
