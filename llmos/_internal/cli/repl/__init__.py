"""The interactive REPL (`llmos interactive`).

`app.py` is the prompt loop and runs goals; `session.py` what a session keeps between goals;
`commands.py` the slash commands (`delegate.py` runs the `llmos` commands behind some of them
in-process); `completion.py` Tab completion; `history.py` the history file; `keys.py`
Ctrl-C while a goal runs; `approver.py` the inline approval prompt.
"""
