"""Names derived from users' names: valid where they go, distinct where their sources are."""

from __future__ import annotations

import re

import pytest

from pipetune.names import EXPERIMENT_NAME_MAX, experiment_name, path_slug

VALID = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mnist-tpe", "mnist-tpe"),
        ("My_Run 2", "my-run-2"),
        ("--a--", "a"),
        ("1-a", "x1-a"),
        ("", "experiment"),
        ("___", "experiment"),
    ],
)
def test_experiment_names_are_valid_kubernetes_names(text: str, expected: str) -> None:
    assert experiment_name(text) == expected
    assert VALID.match(expected)


def test_long_names_are_shortened_but_stay_distinct() -> None:
    a, b = experiment_name("a" * 60 + "-one"), experiment_name("a" * 60 + "-two")
    assert a != b
    assert len(a) == len(b) == EXPERIMENT_NAME_MAX
    assert VALID.match(a) and VALID.match(b)
    # Names that start with a digit are prefixed, not stripped: these stay two experiments.
    assert experiment_name("1-a") != experiment_name("2-a")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lr search", "lr-search"), ("a/b/../c", "a-b-..-c"), ("..", "experiment"), ("v1.2_x", "v1.2_x"), ("", "experiment")],
)
def test_path_slugs_are_one_safe_path_component(text: str, expected: str) -> None:
    slug = path_slug(text)
    assert slug == expected
    assert "/" not in slug and slug not in (".", "..")
