"""The orchestration trace: what an orchestrated goal learned, for the next run of it.

`memories/orchestrations/<goal signature>.md`: YAML front matter with the statistics, the
plan, a reference to each subtask's own trace (in `memories/traces/`, where Follower finds
it) and the fingerprint of the synthesis's input; the body shows the plan and ends with
`## Result`, the final answer. A later run of the same goal reuses the plan (no planning
call), its subtasks replay from their traces, and when the synthesis's input is unchanged
its answer is reused too: no model request at all.

Kept apart from `memories/traces/` on purpose: an orchestration has no tool calls of its
own, and Follower must never mistake it for a replayable trace.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos._internal.errors import TraceFormatError
from llmos._internal.frozen import frozen
from llmos._internal.fsutil import atomic_write_text
from llmos._internal.memory.goal_form import goal_signature
from llmos._internal.orchestration.plan import Plan, PlanError, plan_from_dict
from llmos._internal.orchestration.synthesis import fingerprint, synthesis_prompt
from llmos._internal.text import one_line
from llmos._internal.usage import Usage, now_iso
from llmos._internal.workspace import Workspace
from llmos._internal.yaml_text import YAMLError, dump_yaml, load_yaml

if TYPE_CHECKING:
    from llmos._internal.orchestration.progress import Progress

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_RESULT_HEADING = "## Result"
_FENCE = "---"


@frozen
class SubtaskRef:
    """A subtask of an orchestration trace, and the trace it left (if any)."""

    id: str
    trace: str | None  # the subtask's trace signature (None: it left no trace)
    mode: str | None
    cost_usd: float


@frozen
class OrchestrationRecord:
    """An orchestration trace: a goal's plan, its subtasks' traces and its answer."""

    goal_text: str
    plan: Plan
    subtasks: tuple[SubtaskRef, ...] = ()
    result: str = ""
    synthesis_sha256: str = ""
    planning_cost_usd: float = 0.0
    synthesis_cost_usd: float = 0.0
    estimated_cost_usd: float = 0.0  # the whole first run: planning, subtasks, synthesis
    project: str = "default"
    model: str | None = None
    usage_count: int = 1
    success_count: int = 1
    failure_count: int = 0
    success_rating: float = 0.5
    created_at: str = field(default_factory=now_iso)
    last_used: str = field(default_factory=now_iso)

    @property
    def goal_signature(self) -> str:
        return goal_signature(self.goal_text)

    def counted(self, *, ok: bool) -> OrchestrationRecord:
        """This record after one more use."""
        return dataclasses.replace(self, **Usage.of(self).counted(ok=ok).fields())


def render_record(record: OrchestrationRecord) -> str:
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "orchestration",
        "goal_signature": record.goal_signature,
        "goal_text": record.goal_text,
        "success_rating": record.success_rating,
        "usage_count": record.usage_count,
        "success_count": record.success_count,
        "failure_count": record.failure_count,
        "created_at": record.created_at,
        "last_used": record.last_used,
        "estimated_cost_usd": record.estimated_cost_usd,
        "planning_cost_usd": record.planning_cost_usd,
        "synthesis_cost_usd": record.synthesis_cost_usd,
        "synthesis_sha256": record.synthesis_sha256,
        "project": record.project,
        "model": record.model,
        "plan": record.plan.to_dict()["subtasks"],
        "subtask_traces": [dataclasses.asdict(ref) for ref in record.subtasks],
    }
    front = dump_yaml(meta, sort_keys=False, allow_unicode=True)
    lines = [f"# Orchestration: {one_line(record.goal_text, 200)}", "", "## Plan", ""]
    refs = {ref.id: ref for ref in record.subtasks}
    for sub in record.plan.subtasks:
        ref = refs.get(sub.id)
        after = f" (after {', '.join(sub.depends_on)})" if sub.depends_on else ""
        trace = f", trace `{ref.trace}`" if ref and ref.trace else ""
        lines.append(f"- **{sub.id}** [{sub.agent}]{after}{trace}: {one_line(sub.goal, 300)}")
    body = "\n".join(lines) + f"\n\n{_RESULT_HEADING}\n\n{record.result.strip()}\n"
    return f"{_FENCE}\n{front}{_FENCE}\n{body}"


def parse_record(text: str, *, source: str | None = None) -> OrchestrationRecord:
    if not text.startswith(_FENCE + "\n"):
        raise TraceFormatError("no YAML front matter", path=source)
    end = text.find(f"\n{_FENCE}\n", len(_FENCE))
    if end < 0:
        raise TraceFormatError("the front matter is not closed", path=source)
    try:
        meta = load_yaml(text[len(_FENCE) + 1 : end]) or {}
        if not isinstance(meta, dict) or meta.get("kind") != "orchestration":
            raise TraceFormatError("not an orchestration trace", path=source)
        plan = plan_from_dict({"subtasks": meta.get("plan")})
        refs = tuple(SubtaskRef(**ref) for ref in meta.get("subtask_traces") or [])
        body = text[end + len(_FENCE) + 2 :]
        result = body.split(f"{_RESULT_HEADING}\n", 1)[1].strip() if _RESULT_HEADING in body else ""
        return OrchestrationRecord(
            goal_text=str(meta["goal_text"]),
            plan=plan,
            subtasks=refs,
            result=result,
            synthesis_sha256=str(meta.get("synthesis_sha256") or ""),
            planning_cost_usd=float(meta.get("planning_cost_usd") or 0.0),
            synthesis_cost_usd=float(meta.get("synthesis_cost_usd") or 0.0),
            estimated_cost_usd=float(meta.get("estimated_cost_usd") or 0.0),
            project=str(meta.get("project") or "default"),
            model=meta.get("model"),
            **Usage.from_meta(meta).fields(),
            created_at=str(meta.get("created_at") or now_iso()),
        )
    except TraceFormatError:
        raise
    except (YAMLError, KeyError, TypeError, ValueError, PlanError) as exc:
        raise TraceFormatError(f"unreadable orchestration trace ({exc})", path=source) from exc


class OrchestrationStore:
    """`memories/orchestrations/`: one file per orchestrated goal."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def of(cls, ws: Workspace) -> OrchestrationStore:
        return cls(ws.memories / "orchestrations")

    def path_for(self, goal: str) -> Path:
        return self.folder / f"{goal_signature(goal)}.md"

    def find(self, goal: str) -> OrchestrationRecord | None:
        """The record of `goal` (same goal once normalised), or None; corrupt counts as none."""
        path = self.path_for(goal)
        try:
            return parse_record(path.read_text(encoding="utf-8"), source=str(path))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, TraceFormatError) as exc:
            log.warning("ignoring unreadable orchestration trace %s: %s", path, exc)
            return None

    def save(self, record: OrchestrationRecord) -> Path:
        path = self.path_for(record.goal_text)
        atomic_write_text(path, render_record(record))
        return path


def learned(
    goal: str, project: str, p: Progress, stored: OrchestrationRecord | None
) -> OrchestrationRecord:
    """The orchestration trace a successful run leaves: `stored` counted once more, or,
    if anything was planned or written anew, a new record keeping `stored`'s history."""
    assert p.plan is not None
    if stored is not None and p.plan_source == "reused" and p.synthesis_reused:
        return stored.counted(ok=True)  # nothing new was learned
    refs = tuple(
        SubtaskRef(
            id=r.subtask.id,
            trace=goal_signature(r.subtask.goal) if r.trace_path else None,
            mode=r.mode,
            cost_usd=round(r.cost_usd, 6),
        )
        for r in p.results.values()
        if r.ok
    )
    plan = _normalised(Plan(tuple(r.subtask for r in p.results.values() if r.ok)))
    prompt = synthesis_prompt(goal, p.plan, p.results)
    subtasks_cost = sum(r.cost_usd for r in p.results.values())
    record = OrchestrationRecord(
        goal_text=goal,
        plan=plan,
        subtasks=refs,
        result=p.answer,
        synthesis_sha256=fingerprint(prompt),
        planning_cost_usd=round(p.planning_cost, 6),
        synthesis_cost_usd=round(p.synthesis_cost, 6),
        estimated_cost_usd=round(p.own_cost + subtasks_cost, 6),
        project=project,
        model=p.model,
    )
    if stored is not None:  # keep its history: one more use, with what was learned now
        counted = Usage.of(stored).counted(ok=True).fields()
        record = dataclasses.replace(
            record,
            **{**counted, "last_used": record.last_used},
            created_at=stored.created_at,
            planning_cost_usd=stored.planning_cost_usd or record.planning_cost_usd,
        )
    return record


def _normalised(plan: Plan) -> Plan:
    """A plan that ran over two rounds has shares of two pools: scale them to sum to 1."""
    total = plan.share_total
    if total <= 1:
        return plan
    return Plan(
        tuple(dataclasses.replace(s, budget_share=s.budget_share / total) for s in plan.subtasks)
    )
