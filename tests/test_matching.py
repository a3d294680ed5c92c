"""Goal matching: the same goal matches at 1.0, goals that mean something else never reach
the default threshold of 0.9."""

from __future__ import annotations

import pytest

from llmos.memory.matching import confidence

THRESHOLD = 0.9


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Create hello.py and run it", "create HELLO.py, and run it!"),
        ("run   the tests", "Run the tests."),
    ],
)
def test_same_goal_after_normalising_is_exact(a: str, b: str) -> None:
    assert confidence(a, b) == 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("run the tests", "please run the tests now"),
        ("create the build folder", "create a build folder"),
    ],
)
def test_filler_words_do_not_change_the_meaning(a: str, b: str) -> None:
    assert confidence(a, b) >= THRESHOLD


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("delete the build folder", "create the build folder"),
        ("print the numbers from 1 to 10", "print the numbers from 1 to 100"),
        ("commit the changes and push to main", "commit the changes and do not push to main"),
        ("install the dependencies with pip", "uninstall the dependencies with pip"),
        ("back up the database to s3", "restore the database from s3"),
        ("write tests for parser.py and run them", "write tests for lexer.py and run them"),
        (
            "rename every .txt file in the docs folder to .md and keep the originals",
            "rename every .txt file in the docs folder to .md and delete the originals",
        ),
    ],
)
def test_goals_that_differ_in_meaning_stay_below_the_threshold(a: str, b: str) -> None:
    assert confidence(a, b) < THRESHOLD
    assert confidence(b, a) < THRESHOLD


def test_unrelated_goals_score_low() -> None:
    assert confidence("make coffee", "deploy the website") == 0.0
    assert confidence("", "deploy") == 0.0
