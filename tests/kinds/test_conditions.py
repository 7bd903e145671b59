"""Success and failure conditions: Katib's GJSON forms translated, JSONPath evaluated."""

from __future__ import annotations

import pytest

from pipetune.kinds import (
    JOB,
    PYTORCH_JOB,
    TASK_RUN,
    TRAIN_JOB,
    WORKFLOW,
    ConditionError,
    compile_condition,
    translate_gjson,
)


def conditions(*pairs: tuple[str, str]) -> dict:
    return {"status": {"conditions": [{"type": t, "status": s} for t, s in pairs]}}


@pytest.mark.parametrize(
    ("gjson", "jsonpath"),
    [
        ('status.conditions.#(type=="Complete")#|#(status=="True")#',
         'status.conditions[?(@.type=="Complete" && @.status=="True")]'),
        ('status.conditions.#(type=="Succeeded")#|#(status=="False")#',
         'status.conditions[?(@.type=="Succeeded" && @.status=="False")]'),
        ('status.[@this].#(phase=="Succeeded")#', '$[?(@.status.phase=="Succeeded")]'),
        ('status.[@this].#(phase=="Failed")#', '$[?(@.status.phase=="Failed")]'),
        ('status.#(succeeded>=1)#', "status[?(@.succeeded>=1)]"),
    ],
)
def test_katib_gjson_forms_translate(gjson: str, jsonpath: str) -> None:
    assert translate_gjson(gjson) == jsonpath


def test_a_translated_condition_holds_only_when_both_filters_match() -> None:
    done = compile_condition('status.conditions.#(type=="Succeeded")#|#(status=="True")#')
    assert done.holds(conditions(("Created", "True"), ("Succeeded", "True")))
    assert not done.holds(conditions(("Created", "True"), ("Succeeded", "False")))
    assert not done.holds(conditions(("Running", "True")))
    assert not done.holds({"status": {}})
    assert not done.holds({})


def test_argo_phase_condition_tests_the_resource_itself() -> None:
    done = compile_condition('status.[@this].#(phase=="Succeeded")#')
    assert done.holds({"status": {"phase": "Succeeded"}})
    assert not done.holds({"status": {"phase": "Running"}})


def test_plain_jsonpath_passes_through() -> None:
    path = 'status.conditions[?(@.type=="Complete" && @.status=="True")]'
    condition = compile_condition(path)
    assert condition.jsonpath == path
    assert condition.holds(conditions(("Complete", "True")))


def test_a_path_to_a_false_or_empty_value_does_not_hold() -> None:
    condition = compile_condition("status.done")
    assert condition.holds({"status": {"done": True}})
    assert not condition.holds({"status": {"done": False}})
    assert not condition.holds({"status": {"done": ""}})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty condition"),
        ('status.conditions.#(type=~"S")#', "query 'type=~\"S\"' is not supported"),
        ("status.conditions.@reverse.#(a==1)#", "segment '@reverse' is not supported"),
        ("status[?(@.x==", "not valid JSONPath"),
    ],
)
def test_an_unsupported_condition_is_refused_with_the_expression(text: str, words: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(text)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "success", "failure"),
    [
        (JOB, ("Complete", "True"), ("Failed", "True")),
        (PYTORCH_JOB, ("Succeeded", "True"), ("Failed", "True")),
        (TRAIN_JOB, ("Complete", "True"), ("Failed", "True")),
        (TASK_RUN, ("Succeeded", "True"), ("Succeeded", "False")),
    ],
)
def test_each_kind_default_tells_success_from_failure(kind, success, failure) -> None:
    ok, bad = compile_condition(kind.success_condition), compile_condition(kind.failure_condition)
    assert ok.holds(conditions(success)) and not bad.holds(conditions(success))
    assert bad.holds(conditions(failure)) and not ok.holds(conditions(failure))
    running = conditions(("Running", "True"))
    assert not ok.holds(running) and not bad.holds(running)


def test_workflow_default_reads_the_phase() -> None:
    ok, bad = compile_condition(WORKFLOW.success_condition), compile_condition(WORKFLOW.failure_condition)
    assert ok.holds({"status": {"phase": "Succeeded"}})
    assert bad.holds({"status": {"phase": "Error"}}) and bad.holds({"status": {"phase": "Failed"}})
    assert not bad.holds({"status": {"phase": "Running"}})
