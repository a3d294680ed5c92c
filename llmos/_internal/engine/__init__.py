"""The run engine: what every run that calls the model shares, below the modes.

`lifecycle.py` opens and closes each model-calling run; `types.py` the request and summary
of a goal's run; `builtin_hooks.py` the hooks every Learner run installs; `recall.py` what
memory a run is shown; `governed/` the governance of a live run; `distill.py` and
`draft.py` the model runs outside the modes; `settle.py` the runs a killed process left.
"""
