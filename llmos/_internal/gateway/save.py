"""A gateway conversation saved as an llmos trace, so that `llmos run` can replay what the
agent did through the gateway (Follower mode: no model, $0).

The steps are the conversation's tool calls whose results came back in the client's next
request, in that order (`trace_step` events of its runs' session logs: each is what the
`TraceRecorder` made of the call and its result, with the policy's kind of tool and field
names, so Follower replays a client's `execute_command` as the Bash step it is). Calls that
were rejected never ran and are not steps. The trace is learned through `TraceLibrary.learn`,
like a Learner run's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmos._internal.errors import UsageError
from llmos._internal.gateway.store import ConversationRow
from llmos._internal.memory.library import Learned, TraceLibrary
from llmos._internal.memory.session_log import read_session
from llmos._internal.memory.trace import Trace, TraceStep

if TYPE_CHECKING:
    from llmos._internal.workspace import Workspace


def conversation_trace(ws: Workspace, row: ConversationRow, *, goal: str | None) -> Trace:
    """The trace of a conversation, under `goal` (by default its first user message)."""
    steps: list[TraceStep] = []
    model: str | None = None
    answer = ""
    project = "default"
    for run_id in row.runs:
        path = ws.sessions_dir / f"{run_id}.jsonl"
        if not path.is_file():
            continue
        for event in read_session(path):
            kind = event.get("kind")
            if kind == "trace_step" and isinstance(event.get("step"), dict):
                steps.append(_step(event["step"], path.name))
            elif kind == "model_call" and event.get("model"):
                model = str(event["model"])
            elif kind == "assistant_text" and not event.get("agent"):
                answer = str(event.get("text") or "")
            elif kind == "run_started":
                project = str(event.get("project") or project)
    goal_text = (goal or row.title).strip()
    if not goal_text or goal_text == "(no text)":
        raise UsageError(
            f"conversation {row.id} has no first message to name its goal",
            hint="Name it: llmos gateway save ID --goal 'what the agent did'",
        )
    if not steps:
        raise UsageError(
            f"conversation {row.id} has no tool call that ran (none whose result came back): "
            "there is nothing to replay",
            hint="See its session log: llmos sessions show " + (row.runs[-1] if row.runs else ""),
        )
    return Trace(
        goal_text=goal_text,
        steps=tuple(steps),
        estimated_cost_usd=round(row.cost_usd, 6),
        estimated_time_secs=round(max(row.last_at - row.started_at, 0.0), 3),
        mode="gateway",
        model=model,
        project=project,
        result=answer,
    )


def save_conversation(ws: Workspace, row: ConversationRow, *, goal: str | None) -> Learned:
    trace = conversation_trace(ws, row, goal=goal)
    with TraceLibrary(ws) as library:
        return library.learn(trace)


def _step(data: dict[str, Any], source: str) -> TraceStep:
    try:
        return TraceStep(**data)
    except TypeError as exc:
        raise UsageError(f"{source}: a trace step cannot be read back ({exc})") from exc
