"""The `llmos` command line.

Expected failures (`LlmosError`) become a one-line message, a hint and a non-zero exit;
only bugs show a traceback. Keep imports here light: `llmos --help` must not load the SDK,
and a replay's `llmos run GOAL` loads no typer (`quick_run.py`; typer reads every other
command line: `app.py`).
"""

from __future__ import annotations

import contextlib
import gc
import sys

from llmos._internal.cli.process import (
    configure_logging,
    describe_stop,
    install_signal_handlers,
    received_signal,
    state_error_of,
)
from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import LlmosError


def wants_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON (`--json` before any `--`): its errors are then
    JSON too, on stdout."""
    return "--json" in args[: args.index("--")] if "--" in args else "--json" in args


def report_error(exc: LlmosError, *, as_json: bool = False) -> None:
    """An expected failure: `error: message` and its hint on stderr, or (`as_json`) the
    JSON error object on stdout (`llmos/_internal/cli/json_output.py`)."""
    if as_json:
        from llmos._internal.cli.json_output import print_error

        with contextlib.suppress(OSError):  # stdout is gone: the exit code says it
            print_error(exc.message, hint=exc.hint, exit_code=exc.exit_code)
        return
    from llmos._internal.text import clean

    err = terminal(stderr=True)
    try:
        err.print("[bold red]error:[/] ", markup=True, end="")
        err.print(clean(exc.message), markup=False)
        if exc.hint:
            err.print(clean(exc.hint), markup=False)
    except OSError:
        pass  # no terminal to tell (it closed, or stderr is a full disk): the exit code says it


def dispatch(args: list[str]) -> int:
    """Run `llmos ARGS` in this process and return its exit status. Usage errors the command
    line's parser finds are reported here as llmos reports its own errors (JSON under
    --json); an `LlmosError` raised by the command propagates to the caller."""
    if args[:1] == ["--version"] and set(args[1:]) <= {"--json"}:  # `--version --json` too
        from llmos._internal.cli.version import print_versions

        print_versions(as_json="--json" in args)
        return 0
    if args[:1] == ["run"]:
        from llmos._internal.workspace import expect_workspace

        # Before the run's modules load: they keep caches in the workspace's state (bashlex).
        expect_workspace(workspace_option(args[1:]))
        from llmos._internal.cli.quick_run import read_run

        options = read_run(args[1:])
        if options is not None:
            from llmos._internal.cli.run_goal import run_goal

            gc.freeze()  # what start-up loaded (see main), as `app._root` does for typer
            gc.enable()
            return run_goal(options)
    from llmos._internal.cli.app import run_app

    return run_app(args)


def workspace_option(args: list[str]) -> str | None:
    """The `--workspace`/`-w` a command line gives, read before it is parsed."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("--workspace", "-w") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return None


def main() -> None:
    # Start-up imports a few hundred modules and makes no garbage worth collecting: the
    # collector would only walk them over and over as they load (then once more at exit).
    # It is off until the command's module is loaded (the `llmos` command turns it off even
    # before this package is imported: llmos/__main__.py), then what was loaded is frozen out
    # of its reach; a $0 replay is ~60 ms faster for it. (`dispatch` or `app._root` turns it
    # back on.)
    gc.disable()
    install_signal_handlers()  # SIGTERM and SIGHUP end llmos the way Ctrl-C does
    configure_logging()
    args = sys.argv[1:]
    try:
        code = dispatch(args)
        stopped = received_signal()
        sys.exit(code if stopped is None else 128 + stopped)  # said once, just below
    except SystemExit:
        stopped = received_signal()
        if stopped is None:
            raise
        terminal(stderr=True).print(describe_stop(stopped), markup=False)
        sys.exit(128 + stopped)
    except KeyboardInterrupt:
        stopped = received_signal()
        if stopped is not None:
            terminal(stderr=True).print(describe_stop(stopped), markup=False)
        sys.exit(128 + (stopped or 2))
    except LlmosError as exc:
        report_error(exc, as_json=wants_json(args))
        sys.exit(exc.exit_code)
    except Exception as exc:
        error = state_error_of(exc)
        if not isinstance(error, LlmosError):
            raise
        report_error(error, as_json=wants_json(args))
        sys.exit(error.exit_code)
    finally:
        gc.enable()
