"""Agents: named roles (a system prompt, a tool set, a model) written as Markdown files.

`spec.py` is the file format and its validation, `catalog.py` finds the files (the
workspace's `agents/`, a project's `components/`) over the agents a run's plugins bring
(`llmos/_internal/plugins/run_tools.py`'s `run_catalog`); `llmos/_internal/engine/draft.py` asks the
model to write one. Learner runs hand the agents to the model as subagents; Orchestrator mode
assigns each subtask of its plan to one of them.
"""
