"""A command's words are any text, and the code that reads them as paths answers for any.

The security policy, governance's checkers and trace capture take a command's words for paths
that may not exist. They keep os.path where pathlib would raise on such text (pyproject's
per-file ignores and the `noqa: PTH` lines say so): `Path.is_dir()` and its kin raise for a
name longer than the file system takes (Python 3.11), and `Path.expanduser()` for an unknown
`~user`, where os.path answers "no such file" and leaves the word as written. Had the policy
raised, its answer would fall back to asking, even for a command it must deny.

Every command below is data: it is parsed, never run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos._internal.governance.checkers import parse_checker
from llmos._internal.governance.history import History
from llmos._internal.memory.capture import command_paths
from llmos._internal.security import check_command

TOO_LONG = "n" * 300  # a file name is at most 255 bytes (NAME_MAX)
UNKNOWN_USER = "~nosuchuser-llmos"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "dev"
    (path / "project").mkdir(parents=True)
    return path


@pytest.mark.parametrize(
    ("command", "action", "rule"),
    [
        (f"cat {TOO_LONG}", "allow", "none"),
        (f"ln -s notes.txt {TOO_LONG}", "allow", "none"),
        (f"cp notes.txt {TOO_LONG}", "allow", "none"),
        (f"sed -i s/a/b/ {TOO_LONG}", "allow", "none"),
        # the link is followed, and what it leads to still denied
        (f"ln -s ~/.ssh {TOO_LONG} && cat {TOO_LONG}/id_rsa", "deny", "credential-access"),
        (f"cp ~/.aws/credentials {TOO_LONG}", "deny", "credential-access"),
        (f"rm -rf ~ {TOO_LONG}", "deny", "rm-protected-path"),
    ],
)
def test_the_policy_judges_a_word_too_long_for_a_file_name(
    command: str, action: str, rule: str, home: Path
) -> None:
    decision = check_command(command, workdir=home / "project", home=home)
    assert (decision.action, decision.rule) == (action, rule), decision


@pytest.mark.parametrize("word", [TOO_LONG, f"{UNKNOWN_USER}/notes.txt"])
def test_read_before_edit_takes_any_word_for_a_missing_file(word: str, tmp_path: Path) -> None:
    history = History(goal="g", workdir=tmp_path)
    (checker,) = parse_checker({"require": "read before edit"})
    call = history.call("Bash", {"command": f"sed -i s/a/b/ {word}"})
    assert checker.running().check_call(history, call) is None  # no such file: nothing to read
    assert history.path(f"{UNKNOWN_USER}/x") == str(tmp_path / UNKNOWN_USER / "x")


def test_trace_capture_keeps_an_unknown_user_s_path_as_written(tmp_path: Path) -> None:
    assert command_paths(f"cat {UNKNOWN_USER}/notes.txt", tmp_path) == [f"{UNKNOWN_USER}/notes.txt"]
    assert command_paths(f"cat {TOO_LONG}", tmp_path) == []
