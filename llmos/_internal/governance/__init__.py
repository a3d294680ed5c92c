"""Governance over a run's history: instruction types, policy checkers, routers, evaluators.

- `kinds.py`: the type of each step (read, search, write, execute, verify, network, delegate,
  plan, respond), from its tool and input, and traits such as `credential-read`;
- `history.py`: the steps a run made, as checkers, routers and evaluators read them;
- `selectors.py`, `checkers.py`, `routers.py`: the `policy.yaml` vocabulary and what it does;
- `evaluators.py`: non-blocking scores;
- `policy.py`: the `governance:` sections of the policy files, plus the plugins' rules;
  `current.py`: the policy of the run in progress, loaded only when one is declared;
- `schemas.py`: declared schemas checked (plugin tools' input and output, a plan);
- `supersteps.py`: a session log as supersteps (`llmos sessions show RUN --steps`);
- `report.py`: what `llmos insights` shows of it.

Plugins use `Route` and `Score` (and read `History`, `Step`, `Call`) in their checkers,
routers and evaluators.

What a live run does with them is the run engine's (llmos/_internal/engine/governed/): its hooks and
conclusion (`session.py`), the checkers over a trace before it replays (`replay.py`), a
route's hand-over (`handoff.py`), the model-graded evaluator (`graded.py`).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.governance.evaluators import Score
    from llmos._internal.governance.history import Call, History, Step
    from llmos._internal.governance.kinds import STEP_TYPES
    from llmos._internal.governance.routers import Route

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
        raise AttributeError(f"module 'llmos._internal.governance' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"llmos._internal.governance.{home}"), name)
