"""What every front end shows, as plain data: the records `--json` prints and the web
console serves (`records.py`), a run's timeline lines (`timeline.py`), a tool call on one
line (`calls.py`), how a run a signal ended went (`run_tracker.py`). No terminal and no HTML
here: the command line (`llmos/_internal/cli/`) renders them with rich and the web console
(`llmos/_internal/console/`) as pages, so the two say the same without importing each
other."""
