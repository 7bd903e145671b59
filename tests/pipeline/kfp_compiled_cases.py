"""What each of KFP's compiled test pipelines does under ``pipetune pipeline run``, read from
the file's Python (``../shared/fixtures/kfp-compiled/<name>.py``): the parameters it is run
with (its own defaults where it has them), and then either the outcome the Python gives (the
tasks' output parameters, the branches its conditions take, success or the failure the
pipeline is written to have) or the reason it cannot run on a laptop, refused before
anything runs.

Pipelines that draw random numbers are checked for consistency instead of values: the branch
taken is the one the drawn value selects (``branches``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The Secrets the secret-using pipelines read (their Python asserts these values).
SECRETS = {"test-secret-1": {"username": "user1", "password": "psw0"},
           "test-secret-2": {"password": "psw1"}, "test-secret-3": {"password": "psw2"}}


@dataclass(frozen=True)
class Case:
    """One file's expectation: ``outcome`` ``Succeeded``, ``Failed`` (``why``: a pattern of the
    pipeline run's message), ``refused`` (``why``: a pattern of the error) or ``long`` (not
    run in the suite, ``why`` says why)."""

    outcome: str
    why: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    secrets: bool = False
    mounts: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    ran: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    check: Callable[[Mapping[str, Any], str], None] | None = None


def ok(**given: Any) -> Case:
    return Case("Succeeded", **given)


def failed(task: str, **given: Any) -> Case:
    return Case("Failed", why=f"^task {task} failed", **given)


def refused(why: str, **given: Any) -> Case:
    return Case("refused", why=why, **given)


def long(why: str) -> Case:
    return Case("long", why=why)


def output(tasks: Mapping[str, Any], key: str, name: str = "Output") -> Any:
    return (tasks[key].outputs or {}).get(name)


def branches(decider: str, name: str, taken: Mapping[Any, tuple[str, ...]], prefix: str = "") -> Callable:
    """A check: task ``decider``'s output ``name`` selects which tasks ran: for each value,
    the tasks that must have run when it was drawn and must not have otherwise."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        value = output(tasks, prefix + decider, name)
        assert value in taken, (decider, value)
        for option, keys in taken.items():
            for key in keys:
                assert (prefix + key in tasks) == (option == value), (value, key, sorted(tasks))

    return check


def number_branches(decider: str, name: str, low: tuple[str, ...], high: tuple[str, ...], threshold: float,
                    prefix: str = "") -> Callable:
    """A check: ``low`` ran when the drawn number is at most ``threshold``, ``high`` above it."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        value = output(tasks, prefix + decider, name)
        for key in low:
            assert (prefix + key in tasks) == (value <= threshold), (value, key)
        for key in high:
            assert (prefix + key in tasks) == (value > threshold), (value, key)

    return check


def both(*checks: Callable) -> Callable:
    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        for one in checks:
            one(tasks, stderr)

    return check


def coin_then_number(flip: str, name: str, heads: tuple[str, str, str, float],
                     tails: tuple[str, str, str, float]) -> Callable:
    """flip_coin's shape: heads or tails picks a branch; in it a drawn number picks one of two
    tasks (``(number task, task above, task at or below, threshold)``)."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        coin = output(tasks, flip, name)
        assert coin in ("heads", "tails")
        for side, (number, above, below, threshold) in (("heads", heads), ("tails", tails)):
            assert (number in tasks) == (coin == side), (coin, number)
            if coin == side:
                value = output(tasks, number, name)
                assert (above in tasks, below in tasks) == (value > threshold, value <= threshold), (value, sorted(tasks))
            else:
                assert above not in tasks and below not in tasks

    return check


def oneof(decider: str, choices: Mapping[str, str], consumer: str, prefix: str = "") -> Callable:
    """A dsl.OneOf: the branch the decider's output selects ran, and the consumer got that
    branch's output."""

    def check(tasks: Mapping[str, Any], stderr: str) -> None:
        value = output(tasks, prefix + decider)
        for option, key in choices.items():
            assert (prefix + key in tasks) == (option == value), (value, key)
        assert output(tasks, consumer) == output(tasks, prefix + choices[value])

    return check


CASES: dict[str, Case] = {
}
