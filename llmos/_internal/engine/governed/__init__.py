"""Governance of a live run (its vocabulary, checks and the run's policy are
llmos/_internal/governance): the run's hooks and conclusion (`session.py`), the checkers over a
trace before it replays (`replay.py`), a route's hand-over (`handoff.py`), the model-graded
evaluator (`graded.py`)."""
