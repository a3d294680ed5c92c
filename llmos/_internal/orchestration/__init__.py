"""Orchestrator mode's parts, each testable without a model.

`plan.py` (the plan, its JSON schema and its validation), `classify.py` and `decide.py`
(when auto mode plans), `budget.py` (how the run's cap is split), `planner.py` (asking the
model for a plan), `executor.py` (running the dependency graph), `subtasks.py` (one subtask
through the dispatcher, retried once), `synthesis.py` (the final answer), `progress.py`
(what the run did, and its `--json`) and `record.py` (the orchestration trace).
`llmos/_internal/modes/orchestrator.py` ties them together.
"""
