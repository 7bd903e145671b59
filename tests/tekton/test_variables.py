"""Tekton's variable substitution (pipetune.tekton.variables) as Tekton's reconciler applies it."""

from __future__ import annotations

import pytest

from pipetune.tekton import variables

SCOPE = {
    "params": {"s": "one", "a": ["x", "y"], "o": {"k": "v"}, "dotted.name": "d", "flag": True},
    "context": {"taskRun": {"name": "tr"}, "task": {"retry-count": "0"}},
    "tasks": {"t": {"results": {"r": "out", "list": ["1", "2"]}}},
}


@pytest.mark.parametrize(("text", "expected"), [
    ("$(params.s)", "one"),
    ("$(params['s'])-$(params[\"s\"])", "one-one"),
    ("$(params.a[1])", "y"),
    ("$(params.o.k)", "v"),
    ("$(params['dotted.name'])", "d"),
    ("$(params.flag)", "true"),
    ("$(context.taskRun.name)/$(context.task.retry-count)", "tr/0"),
    ("$(tasks.t.results.r) $(tasks.t.results.list[0])", "out 1"),
    ("$(date +%s) $(params.none) $(params.a[*])", "$(date +%s) $(params.none) $(params.a[*])"),
])
def test_strings_are_substituted_and_the_rest_left_as_written(text: str, expected: str) -> None:
    assert variables.text(text, SCOPE) == expected


def test_an_array_reference_expands_in_place_and_a_whole_reference_keeps_its_type() -> None:
    assert variables.strings(["-v", "$(params.a[*])", "$(params.s)"], SCOPE) == ["-v", "x", "y", "one"]
    assert variables.value("$(params.o[*])", SCOPE) == {"k": "v"}
    assert variables.value(["$(tasks.t.results.list[*])", "3"], SCOPE) == ["1", "2", "3"]


def test_an_index_past_the_end_is_an_error_naming_it() -> None:
    with pytest.raises(IndexError, match=r"\$\(params.a\[5\]\): index 5 is out of range of 2 values"):
        variables.text("$(params.a[5])", SCOPE)
