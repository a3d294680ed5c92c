"""Governance over a run's history: instruction types, policy checkers, routers, evaluators.

- `kinds.py`: the type of each step (read, search, write, execute, verify, network, delegate,
  plan, respond), from its tool and input, and traits such as `credential-read`;
- `history.py`: the steps a run made, as checkers, routers and evaluators read them;
- `selectors.py`, `checkers.py`, `routers.py`: the `policy.yaml` vocabulary and what it does;
- `evaluators.py` (and `graded.py`, the optional model-graded one): non-blocking scores;
- `policy.py`: the `governance:` sections of the policy files, plus the plugins' rules;
  `current.py`: the policy of the run in progress, loaded only when one is declared;
- `session.py`: one live run's hooks (PreToolUse, PostToolUse, Stop) and its conclusion;
- `replay.py`: the checkers over a trace's steps before it is replayed;
- `handoff.py`: a route handing the rest of a goal to another agent's run;
- `schemas.py`: declared schemas checked (plugin tools' input and output, a plan);
- `supersteps.py`: a session log as supersteps (`llmos sessions show RUN --steps`);
- `report.py`: what `llmos insights` shows of it.

Plugins use `Route` and `Score` (and read `History`, `Step`, `Call`) in their checkers,
routers and evaluators.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos.governance.evaluators import Score
    from llmos.governance.history import Call, History, Step
    from llmos.governance.kinds import STEP_TYPES
    from llmos.governance.routers import Route

__all__ = ["STEP_TYPES", "Call", "History", "Route", "Score", "Step"]
# Imported on first use: a replay imports only the parts it needs (kinds, current, replay).
_HOMES = {
    "Score": "evaluators",
    "Call": "history",
    "History": "history",
    "Step": "history",
    "STEP_TYPES": "kinds",
    "Route": "routers",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmos.governance' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"llmos.governance.{home}"), name)
