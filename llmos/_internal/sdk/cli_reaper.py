"""The Claude Code CLI's keeper: it starts the CLI and makes sure that the CLI and everything
the CLI started end with llmos, even when llmos is killed with SIGKILL.

Run as `python -I -S cli_reaper.py CLI ARGS...` (the SDK starts it in the CLI's place:
`llmos/_internal/sdk/runner.py` passes a small launcher as the SDK's `cli_path`). Standard library
only, no llmos import: it starts in a few milliseconds.

- It asks the kernel for a signal when its parent (llmos) dies (`PR_SET_PDEATHSIG`), and to
  become the **subreaper** of what it starts (`PR_SET_CHILD_SUBREAPER`): a process the CLI
  starts and orphans (a Bash tool's `sleep 300`, a daemonised server) is re-parented to it,
  not to PID 1, so it can always find every descendant in `/proc`.
- The CLI runs as its child with its own parent-death signal, SIGKILL: if the keeper is
  killed, the CLI dies at once and sends no further model request.
- When llmos dies, the keeper kills every descendant at once (SIGKILL): nothing is left to
  spend money. When llmos asks it to stop (SIGTERM from the SDK's disconnect), it passes
  SIGTERM to the CLI, waits up to `GRACE_SECS`, then kills what is left. When the CLI
  exits on its own, whatever it left running is killed too. It exits with the CLI's status.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
GRACE_SECS = 3.0
PARENT_ENV = "LLMOS_REAPER_PARENT"


class _Stop(Exception):
    """SIGTERM arrived: from the SDK (stop), or the parent-death signal (llmos died)."""


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Every living process below `root`, from /proc (zombies left out)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 2 or fields[0] == b"Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.append(child)
            pending.append(child)
    return found


def _reap() -> None:
    """Collect children that ended (orphans adopted as subreaper included)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all(me: int) -> None:
    """SIGKILL every descendant until none is left (they may fork meanwhile)."""
    for _ in range(50):
        found = descendants(me)
        if not found:
            return
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)  # no more forking while the rest is found
        for pid in descendants(me) + found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
        _reap()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: cli_reaper.py CLI [ARGS...]\n")
        return 2
    me = os.getpid()
    parent = int(os.environ.pop(PARENT_ENV, "0") or 0) or os.getppid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        return 1  # llmos died before the keeper was ready: start nothing

    def stop(signum: int, frame: object) -> None:
        raise _Stop(signum)

    # Ctrl-C and a closed terminal are llmos's to handle (it interrupts the CLI in order,
    # then disconnects: SIGTERM here). The CLI itself keeps what it inherited.
    inherited = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGHUP)}
    for sig in inherited:
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop)
    cli = os.fork()
    if cli == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            for sig, handler in inherited.items():
                signal.signal(sig, handler)
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != me:
                os._exit(1)
            os.execv(argv[1], argv[1:])
        finally:
            os._exit(127)
    # The pipes belong to the CLI: the keeper holding them open would hide its end.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    status = _wait_for(cli, parent)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # cleaning up is all that is left
    kill_all(me)
    _reap()
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else 1


def _wait_for(cli: int, parent: int) -> int:
    """The CLI's wait status; stops it as the module's docstring says when told to."""
    deadline: float | None = None
    while True:
        try:
            if deadline is None:
                pid, status = os.waitpid(-1, 0)
            else:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    if time.monotonic() >= deadline:
                        kill_all(os.getpid())
                        deadline = None
                    else:
                        time.sleep(0.02)
                    continue
        except ChildProcessError:
            return 0
        except _Stop:
            if os.getppid() != parent:
                kill_all(os.getpid())  # llmos is gone: nothing may go on spending
                deadline = None
            elif deadline is None:
                with contextlib.suppress(OSError):
                    os.kill(cli, signal.SIGTERM)
                deadline = time.monotonic() + GRACE_SECS
            continue
        if pid == cli:
            return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
