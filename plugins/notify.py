"""A desktop notification when a long llmos run finishes, so you can look away meanwhile.

An event hook on the kernel's `run_finished` event: when a run took at least
$LLMOS_NOTIFY_AFTER_SECS seconds (default 30), it calls `notify-send` (Linux) or
`osascript` (macOS), whichever is installed; otherwise it does nothing.
Install: copy (or symlink) this file into your workspace's `plugins/` folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from llmos.plugins import Plugin, RunFinished

plugin = Plugin("notify", description="Desktop notifications when long runs finish.")


def _threshold() -> float:
    try:
        return float(os.environ.get("LLMOS_NOTIFY_AFTER_SECS", "30"))
    except ValueError:
        return 30.0


@plugin.on("run_finished")
def notify(event: RunFinished) -> None:
    if event.duration_secs < _threshold():
        return
    title = f"llmos run {event.status}"
    body = f"{event.duration_secs:.0f} s, ${event.cost_usd:.4f}" + (
        f": {event.error}" if event.error else ""
    )
    if shutil.which("notify-send"):
        command = ["notify-send", "--app-name=llmos", title, body]
    elif shutil.which("osascript"):
        script = f"display notification {_quoted(body)} with title {_quoted(title)}"
        command = ["osascript", "-e", script]
    else:
        return
    # The hook runs in its own thread (the event bus), so waiting here never slows the run.
    subprocess.run(command, check=False, timeout=10, capture_output=True)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
