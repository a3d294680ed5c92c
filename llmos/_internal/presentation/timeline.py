"""A run's timeline in words: one (label, text) line for each event of its session log worth
one, as `llmos sessions show` prints it and the web console's run page shows it."""

from __future__ import annotations

import json
from typing import Any

from llmos._internal.presentation.calls import describe_call


def _flat(value: Any) -> str:
    """A value on one line, whole: the timeline wraps it on a terminal, never cuts it."""
    return " ".join(str(value).split())


def event_line(event: dict[str, Any]) -> tuple[str, str] | None:
    """A timeline line for one event: (label, text); None for events not worth a line."""
    kind = event.get("kind", "?")
    match kind:
        case "run_started":
            goal = _flat(event.get("goal", ""))
            budget = float(event.get("budget_usd") or 0)
            return "started", f"{event.get('mode')} mode, budget ${budget:.4f}: {goal}"
        case "memory_injected":
            sources = len(event.get("sources") or [])
            return "memory", f"{sources} item(s), ~{event.get('tokens')} tokens"
        case "assistant_text":
            return event.get("agent") or "agent", _flat(event.get("text", ""))
        case "tool_requested":
            tool = str(event.get("tool"))
            return f"→ {tool}", describe_call(tool, event.get("input") or {}, limit=None)
        case "tool_decision":
            verdict = "✓ allowed" if event.get("allowed") else "✗ denied"
            reason = f": {event.get('reason')}" if event.get("reason") else ""
            rule = f"{event.get('guard')} ({event.get('rule')})"
            return verdict, f"{event.get('tool')} by {rule}{reason}"
        case "tool_finished":
            mark = "✓" if event.get("ok") else "✗"
            return f"{mark} {event.get('tool')}", _flat(event.get("summary", ""))
        case "model_turn":
            usage = event.get("usage") or {}
            who = f"{event.get('agent')} " if event.get("agent") else ""
            return "turn", (
                f"{who}{event.get('model')}: {usage.get('input_tokens', 0)} in, "
                f"{usage.get('output_tokens', 0)} out tokens ({event.get('stop_reason') or '-'})"
            )
        case "cost_updated":
            if not event.get("final"):
                return None  # running estimates: the final figure is what counts
            return "cost", f"${float(event.get('spent_usd') or 0):.4f}"
        case "checker_results":
            failed = [r for r in event.get("results") or () if not r.get("passed")]
            if not failed and event.get("phase") == "call":
                return None  # every call's passing checks: `--steps` shows them
            if not failed:
                return "✓ checks", f"{event.get('phase')}: {len(event.get('results') or ())} passed"
            text = "; ".join(f"{r.get('checker')}: {r.get('reason')}" for r in failed)
            return f"✗ {event.get('phase')}", text
        case "route_taken":
            target = f" {event['target']}" if event.get("target") else ""
            return "→ route", (
                f"{event.get('action')}{target} ({event.get('router')}): {event.get('reason')}"
                + (f"; {event['outcome']}" if event.get("outcome") else "")
            )
        case "score_recorded":
            value = event.get("score")
            shown = "-" if value is None else f"{float(value):.2f}"
            return "score", f"{event.get('evaluator')} {shown}: {event.get('detail')}"
        case "watchdog_tripped" | "notice":
            return kind.split("_")[0], str(event.get("detail") or event.get("text"))
        case "model_call" | "think_again" | "trace_step" | "request_refused":
            return _gateway_line(event)
        case "run_finished":
            error = f"; {event['error']}" if event.get("error") else ""
            return "finished", (
                f"{event.get('status')}; ${float(event.get('cost_usd') or 0):.4f}; "
                f"{event.get('turns')} turn(s), {event.get('tool_calls')} tool call(s), "
                f"{float(event.get('duration_secs') or 0):.1f} s{error}"
            )
    hidden = {"seq", "at", "run_id", "parent_run_id", "kind", "prev", "hash"}
    rest = {k: v for k, v in event.items() if k not in hidden}
    return kind, _flat(json.dumps(rest, ensure_ascii=False, default=str))


def _gateway_line(event: dict[str, Any]) -> tuple[str, str]:
    """The line for one of `llmos gateway`'s own events (llmos/_internal/gateway/events.py)."""
    kind = event.get("kind")
    if kind == "model_call":
        usage = event.get("usage") or {}
        again = f", attempt {event['attempt']}" if event.get("attempt") else ""
        error = f"; {event['error']}" if event.get("error") else ""
        return "model", (
            f"{event.get('model') or '?'}{again}: {usage.get('input_tokens', 0)} in, "
            f"{usage.get('output_tokens', 0)} out, ${float(event.get('cost_usd') or 0):.4f}, "
            f"{float(event.get('duration_ms') or 0):.0f} ms{error}"
        )
    if kind == "think_again":
        rejected = ", ".join(
            f"{r.get('tool')} ({r.get('rule')})" for r in event.get("rejected") or []
        )
        return "↻ sent back", f"attempt {event.get('attempt')}: {rejected} rejected"
    if kind == "trace_step":
        step = event.get("step") or {}
        return "step", f"{step.get('tool')}: {step.get('summary')} ({step.get('outcome')})"
    return "refused", str(event.get("message", ""))
