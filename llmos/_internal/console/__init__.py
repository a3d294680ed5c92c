"""`llmos console`: a web console for the approvals inbox, runs, traces, budget, memory and
the schedule, beside the CLI and the REPL. Starlette and uvicorn are imported only by this
package's modules, which only that command (and `kernel start --console`) loads."""
