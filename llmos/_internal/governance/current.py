"""The governance declared for a run, and whether a run has any.

The dispatcher asks `governance_for` at the start of every run and hands the answer to the
run's mode (`RunServices.governance`): a replay's preflight and a Learner run's hooks. Most
workspaces declare no governance, and a replay must stay light, so this module imports
nothing of the rest of the package: the policy files are only looked at for a `governance`
section, and the vocabulary is parsed (`policy.py`) only when one is there or a plugin of
the run brings checkers, routers or evaluators.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.governance.policy import GovernancePolicy

POLICY_FILE = "policy.yaml"
SECTION = "governance"


def governance_for(
    workspace: Path, project: str | None, plugins: Iterable[Any] = ()
) -> GovernancePolicy | None:
    """The governance declared for a run in `project` (its policy files' `governance:`
    sections, its plugins' rules), or None when there is none. UsageError for a bad entry."""
    plugins = list(plugins)
    if not (_declared(workspace, project) or any(_has_rules(p) for p in plugins)):
        return None
    from llmos._internal.governance.policy import run_policy

    return run_policy(workspace, project, plugins)


def _declared(workspace: Path, project: str | None) -> bool:
    paths = [Path(workspace) / POLICY_FILE]
    if project:
        paths.append(Path(workspace) / "projects" / project / POLICY_FILE)
    for path in paths:
        try:
            if SECTION in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def _has_rules(plugin: Any) -> bool:
    return bool(
        getattr(plugin, "checkers", None)
        or getattr(plugin, "routers", None)
        or getattr(plugin, "evaluators", None)
    )
