"""What `llmos insights` shows of governance, across projects: each evaluator's run scores
(how many runs it scored, passed, failed, the mean), the checkers that denied calls or sent
runs back most, the routes taken, and runs whose status governance set.

Scores, checker results and routes are read from the newest session logs (`RECENT_LOGS` of
them: reading every log of a long-lived workspace would make `insights` slow); only the lines
of governance events are parsed. Statuses come from the ledger rows `insights` already read.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

# The statuses a run ends with when governance ended it
# (llmos/_internal/engine/governed/session.py).
GOVERNANCE_STATUSES = ("governance_failed", "stopped", "handed_off")
RECENT_LOGS = 500
_KINDS = ('"kind": "score_recorded"', '"kind": "checker_results"', '"kind": "route_taken"')


def governance_report(sessions_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    scores: dict[str, list[dict[str, Any]]] = defaultdict(list)
    denials: Counter[str] = Counter()
    sent_back: Counter[str] = Counter()
    routes: Counter[tuple[str, str]] = Counter()
    logs = sorted(sessions_dir.glob("*.jsonl"), reverse=True)[:RECENT_LOGS]
    for path in logs:
        for event in _governance_events(path):
            kind = event.get("kind")
            if kind == "score_recorded" and event.get("scope") == "run":
                scores[str(event.get("evaluator"))].append(event)
            elif kind == "checker_results":
                for result in event.get("results") or ():
                    if result.get("passed"):
                        continue
                    name = str(result.get("checker"))
                    (sent_back if event.get("phase") == "finish" else denials)[name] += 1
            elif kind == "route_taken":
                routes[(str(event.get("router")), str(event.get("action")))] += 1
    statuses = Counter(str(r.get("status")) for r in rows if r.get("status") in GOVERNANCE_STATUSES)
    return {
        "logs_read": len(logs),
        "evaluators": [_evaluator(name, found) for name, found in sorted(scores.items())],
        "checkers": [
            {"checker": name, "denied": denials[name], "sent_back": sent_back[name]}
            for name in sorted(
                set(denials) | set(sent_back), key=lambda n: -(denials[n] + sent_back[n])
            )
        ],
        "routes": [
            {"router": router, "action": action, "taken": n}
            for (router, action), n in routes.most_common()
        ],
        "statuses": dict(statuses),
    }


def _evaluator(name: str, found: list[dict[str, Any]]) -> dict[str, Any]:
    values = [float(e["score"]) for e in found if isinstance(e.get("score"), int | float)]
    return {
        "evaluator": name,
        "runs": len(found),
        "passed": sum(1 for e in found if e.get("passed") is True),
        "failed": sum(1 for e in found if e.get("passed") is False),
        "mean_score": round(sum(values) / len(values), 4) if values else None,
        "gate": any(e.get("gate") for e in found),
    }


def _governance_events(path: Path) -> list[dict[str, Any]]:
    found = []
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if any(kind in line for kind in _KINDS):
                    try:
                        found.append(json.loads(line))
                    except ValueError:
                        continue
    except OSError:
        return []
    return found
