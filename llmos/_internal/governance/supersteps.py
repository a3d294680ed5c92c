"""A run's session log as supersteps: one model turn and the tool calls it made, each call
with its type, the guards' decisions, the checkers' results, the routes taken after it and
its scores. `llmos sessions show RUN --steps` prints it; `--json` gives this structure:

    {"run_id", "goal", "mode", "status", "supersteps": [
        {"number", "turn", "type" (plan | respond), "agent", "text",
         "calls": [{"tool_use_id", "tool", "type", "input", "ok", "summary",
                    "decisions", "checks", "routes", "scores"}],
         "checks" (before finishing), "routes"}],
     "run": {"checks" (replay, artifacts), "routes", "scores", "notices"}}

A replay's steps have no model turn: each is a superstep of its own, typed as the step.
Logs written before turns were recorded are grouped by the order of events (a turn ends when
its calls return).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmos._internal.governance.kinds import classify, turn_type


def supersteps(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    builder = _Builder()
    for event in events:
        builder.add(event)
    return builder.result()


class _Builder:
    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.by_turn: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.run: dict[str, Any] = {"checks": [], "routes": [], "scores": [], "notices": []}
        self.info: dict[str, Any] = {}
        self.returned = False  # a call of the current superstep came back

    def result(self) -> dict[str, Any]:
        for step in self.steps:
            replayed = step.pop("replayed", False)
            step["type"] = step["calls"][0]["type"] if replayed else turn_type(bool(step["calls"]))
        return {**self.info, "supersteps": self.steps, "run": self.run}

    def superstep(self, turn: str | None, agent: str | None, *, call: bool) -> dict[str, Any]:
        if turn is not None:
            found = self.by_turn.get(turn)
            if found is None:
                found = self.by_turn[turn] = self._new(turn, agent)
            return found
        current = self.steps[-1] if self.steps else None
        if current is None or self.returned or current.get("replayed"):
            return self._new(None, agent)
        return current

    def _new(self, turn: str | None, agent: str | None) -> dict[str, Any]:
        step: dict[str, Any] = {
            "number": len(self.steps) + 1,
            "turn": turn,
            "type": "",
            "agent": agent,
            "text": "",
            "calls": [],
            "checks": [],
            "routes": [],
        }
        self.steps.append(step)
        self.returned = False
        return step

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)

    def _on_run_started(self, event: dict[str, Any]) -> None:
        self.info.update(run_id=event.get("run_id"), goal=event.get("goal"), mode=event.get("mode"))

    def _on_run_finished(self, event: dict[str, Any]) -> None:
        self.info.update(status=event.get("status"), error=event.get("error"))

    def _on_assistant_text(self, event: dict[str, Any]) -> None:
        step = self.superstep(event.get("turn"), event.get("agent"), call=False)
        text = str(event.get("text", "")).strip()
        step["text"] = f"{step['text']}\n{text}".strip()

    def _on_tool_requested(self, event: dict[str, Any]) -> None:
        turn = event.get("turn")
        if turn is None and self.info.get("mode") == "follower":
            step = self._new(None, None)
            step["replayed"] = True  # no model turn: the superstep is the step
        else:
            step = self.superstep(turn, event.get("agent"), call=True)
        tool = str(event.get("tool", ""))
        tool_input = event.get("input") or {}
        call: dict[str, Any] = {
            "tool_use_id": event.get("tool_use_id"),
            "tool": tool,
            "type": event.get("step_type") or classify(tool, tool_input).type,
            "input": tool_input,
            "agent": event.get("agent"),
            "ok": None,
            "summary": "",
            "decisions": [],
            "checks": [],
            "routes": [],
            "scores": [],
        }
        step["calls"].append(call)
        self.calls[str(call["tool_use_id"])] = call

    def _on_tool_decision(self, event: dict[str, Any]) -> None:
        call = self.calls.get(str(event.get("tool_use_id")))
        if call is None:
            return
        call["decisions"].append(
            {
                "guard": event.get("guard"),
                "allowed": event.get("allowed"),
                "rule": event.get("rule"),
                "reason": event.get("reason"),
            }
        )
        if not event.get("allowed"):
            call["ok"] = False
            self.returned = True

    def _on_tool_finished(self, event: dict[str, Any]) -> None:
        call = self.calls.get(str(event.get("tool_use_id")))
        if call is not None:
            call["ok"] = bool(event.get("ok"))
            call["summary"] = event.get("summary", "")
        self.returned = True

    def _on_checker_results(self, event: dict[str, Any]) -> None:
        phase = event.get("phase")
        results = [{**r, "phase": phase} for r in event.get("results") or ()]
        call = self.calls.get(str(event.get("tool_use_id")))
        if call is not None:
            call["checks"] += results
        elif phase == "finish" and self.steps:
            self.steps[-1]["checks"] += results
        else:
            self.run["checks"] += results

    def _on_route_taken(self, event: dict[str, Any]) -> None:
        route = {k: event.get(k) for k in ("router", "action", "target", "reason", "outcome")}
        call = self.calls.get(str(event.get("tool_use_id")))
        if call is not None:
            call["routes"].append(route)
        elif self.steps:
            self.steps[-1]["routes"].append(route)
        else:
            self.run["routes"].append(route)

    def _on_score_recorded(self, event: dict[str, Any]) -> None:
        score = {
            k: event.get(k) for k in ("evaluator", "score", "passed", "detail", "measures", "gate")
        }
        call = self.calls.get(str(event.get("tool_use_id")))
        if event.get("scope") == "step" and call is not None:
            call["scores"].append(score)
        else:
            self.run["scores"].append(score)

    def _on_notice(self, event: dict[str, Any]) -> None:
        self.run["notices"].append(event.get("text"))
