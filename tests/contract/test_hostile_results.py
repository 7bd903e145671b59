"""Hostile results.yaml files (issue 14): each is refused with one line naming the file and
the limit, quickly and in little memory, and a run that wrote one ends Failed with that reason.

Reads that used to hang or exhaust memory run in a child process under a timeout and an
address-space limit, so that a regression fails the test instead of hanging the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ROOT
from experiment_yaml import double, job_experiment
from pipetune.contract import Results, parse_results, read_results, write_results
from pipetune.errors import ContractError
from pipetune.limits import MAX_DEPTH, MAX_RESULTS_ENTRIES, RESULTS_LIMITS, RESULTS_MAX_BYTES, RESULTS_MAX_NODES
from pipetune.yamlsafe import load_yaml_file

HEAD = "apiVersion: pipetune.dev/v1\n"
#: The address space a child reading a hostile file gets: the interpreter and pipetune take
#: some 30 MB; /dev/zero used to be read until MemoryError at 3.8 GB.
MEMORY = 300 * 2**20
#: Generous for a loaded machine: a refusal takes milliseconds; the old reads hung for ever.
TIMEOUT = 60


def laughs(levels: int, indent: str = "  ") -> str:
    """A billion-laughs bomb: ``levels`` anchors of ten aliases of the one before."""
    names = "abcdefghij"
    lines = [f"{indent}a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for level in range(1, levels):
        lines.append(f"{indent}{names[level]}: &{names[level]} [{','.join(['*' + names[level - 1]] * 10)}]")
    return "\n".join(lines) + "\n"


BIG_INT = HEAD + "metrics:\n  loss: 1" + "0" * 400 + "\n"
DEEP = HEAD + "outputs:\n  deep: " + "[" * 900 + "]" * 900 + "\n"
BOMB = HEAD + "outputs:\n" + laughs(9)
#: The issue's 366-byte file became an 80 MB row in the run store.
SMALL_BOMB = HEAD + "outputs:\n" + laughs(7, indent=" ")

CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
from pipetune.contract import parse_results, read_results
try:
    if len(sys.argv) > 2:  # the file's text, as the Kubernetes engine parses a termination message
        results = parse_results(Path(sys.argv[1]).read_text(), sys.argv[2])
    else:
        results = read_results(sys.argv[1])
    print(json.dumps({{"outcome": "read", "json_bytes": len(json.dumps(results.to_dict()))}}))
except BaseException as exc:
    print(json.dumps({{"outcome": type(exc).__name__, "message": str(exc)}}))
"""


def read_in_child(path: Path, source: str | None = None) -> dict:
    """``read_results(path)`` in a child under :data:`MEMORY` and :data:`TIMEOUT` (with
    ``source``: ``parse_results`` of the file's text)."""
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(memory=MEMORY), str(path), *([source] if source else [])],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)


def outputs_with(tmp_path: Path, text: str) -> Path:
    outputs = tmp_path / "outputs"
    outputs.mkdir(exist_ok=True)
    (outputs / "results.yaml").write_text(text, encoding="utf-8")
    return outputs / "results.yaml"


# -- values ------------------------------------------------------------------------------------


def test_an_integer_metric_beyond_float_range_is_refused_naming_the_metric() -> None:
    with pytest.raises(ContractError, match=r"^results.yaml: metrics.loss: 1e400 is not a finite float"):
        parse_results(BIG_INT)
    with pytest.raises(ContractError, match=r"metrics.loss: -1.234e403 is not a finite float"):
        parse_results(HEAD + "metrics: {loss: -1234" + "0" * 400 + "}\n")
    with pytest.raises(ContractError, match=r"history\[0\].loss: 1e400 is not a finite float"):
        parse_results(HEAD + "history: [{step: 1, loss: 1" + "0" * 400 + "}]\n")


def test_a_step_beyond_float_range_is_refused() -> None:
    with pytest.raises(ContractError, match=r"history\[0\].step: 1e400 is beyond float range"):
        parse_results(HEAD + "history: [{step: 1" + "0" * 400 + ", loss: 1}]\n")
    with pytest.raises(ContractError, match=r"checkpoint.step: 1e400 is beyond float range"):
        parse_results(HEAD + "checkpoint: {uri: c/, step: 1" + "0" * 400 + "}\n")


def test_the_largest_float_integers_still_read() -> None:
    assert parse_results(HEAD + f"metrics: {{n: {10**308}}}\n").metrics["n"] == 10**308


def test_an_integer_literal_past_pythons_digit_limit_is_refused_not_a_traceback() -> None:
    # Python's int() refuses more than 4300 digits with a ValueError PyYAML let through.
    with pytest.raises(ContractError, match=r"results.yaml: at line 2, column 14: an integer of 5000 characters"):
        parse_results(HEAD + "outputs: {x: " + "1" * 5000 + "}\n")


def test_a_date_that_is_none_is_malformed_yaml_not_a_traceback() -> None:
    with pytest.raises(ContractError, match=r"malformed YAML at line 2, column 14: month must be in 1..12"):
        parse_results(HEAD + "outputs: {x: 2001-13-45}\n")


def test_nesting_900_deep_is_refused_naming_the_limit() -> None:
    with pytest.raises(ContractError, match=rf"results.yaml: at line 3, column \d+: collections nested deeper than {MAX_DEPTH}"):
        parse_results(DEEP)


def test_nesting_up_to_the_limit_reads() -> None:
    # The document, outputs and deep are three levels: 97 more lists make 100.
    depth = MAX_DEPTH - 3
    results = parse_results(HEAD + "outputs:\n  deep: " + "[" * depth + "1" + "]" * depth + "\n")
    value = results.outputs["deep"]
    for _ in range(depth - 1):
        value = value[0]
    assert value == [1]


# -- aliases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [BOMB, SMALL_BOMB], ids=["billion-laughs", "366-byte"])
def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, text: str) -> None:
    outcome = read_in_child(outputs_with(tmp_path, text))
    assert outcome["outcome"] == "ContractError", outcome
    assert outcome["message"].startswith(f"{tmp_path}/outputs/results.yaml: at line ")
    assert f"aliases expand to more than {RESULTS_MAX_NODES} YAML nodes" in outcome["message"]
    assert "keep large values in artifacts" in outcome["message"]


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ContractError, match=r"at line 3, column 10: alias \*a refers to a collection that contains it"):
        parse_results(HEAD + "outputs:\n  x: &a [*a]\n")
    with pytest.raises(ContractError, match=r"alias \*a refers to a collection that contains it"):
        parse_results(HEAD + "outputs: &a {x: *a}\n")


def test_modest_aliases_and_merge_keys_read_as_before() -> None:
    results = parse_results(HEAD + "outputs:\n  base: &b {x: 1, y: [1, 2]}\n  copy: *b\n  more: {<<: *b, z: 3}\n")
    assert results.outputs == {"base": {"x": 1, "y": [1, 2]}, "copy": {"x": 1, "y": [1, 2]},
                               "more": {"x": 1, "y": [1, 2], "z": 3}}


# -- files -------------------------------------------------------------------------------------


def test_a_symlink_to_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "results.yaml").symlink_to("/dev/zero")
    outcome = read_in_child(outputs)
    assert outcome["outcome"] == "ContractError", outcome  # it was MemoryError after 3.8 GB
    assert outcome["message"] == (
        f"{outputs}/results.yaml: is a link to /dev/zero, outside {outputs}; expected a file in that folder"
    )


def test_a_symlink_out_of_the_outputs_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text(HEAD + "metrics: {loss: 1}\n")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "results.yaml").symlink_to("../elsewhere.yaml")
    with pytest.raises(ContractError, match="is a link to .*/elsewhere.yaml, outside .*/outputs; expected a file"):
        read_results(outputs)


def test_a_symlink_inside_the_outputs_directory_reads(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    (outputs / "final").mkdir(parents=True)
    (outputs / "final" / "results.yaml").write_text(HEAD + "metrics: {loss: 1}\n")
    (outputs / "results.yaml").symlink_to("final/results.yaml")
    assert read_results(outputs).metrics == {"loss": 1}


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    os.mkfifo(outputs / "results.yaml")
    outcome = read_in_child(outputs)  # no writer: a blocking open or read waits for ever
    assert outcome == {"outcome": "ContractError",
                       "message": f"{outputs}/results.yaml: is a FIFO, expected a regular YAML file"}


def test_a_directory_named_results_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "results.yaml").mkdir(parents=True)
    with pytest.raises(ContractError, match=r"results.yaml/results.yaml: file not found"):
        read_results(tmp_path / "results.yaml")  # a directory: its results.yaml is read
    with pytest.raises(ContractError, match=r"/results.yaml: is a directory, expected a YAML file"):
        parse_results_file(tmp_path / "results.yaml")


def parse_results_file(path: Path) -> None:
    load_yaml_file(path, ContractError, limits=RESULTS_LIMITS)


def test_a_100_mb_file_is_refused_by_its_size_without_reading_it(tmp_path: Path) -> None:
    path = outputs_with(tmp_path, HEAD)
    with path.open("r+b") as handle:
        handle.truncate(100 * 2**20)  # sparse: costs nothing to make, 43 s to parse before
    outcome = read_in_child(path)
    assert outcome == {"outcome": "ContractError", "message": (
        f"{path}: 104857600 bytes; at most {RESULTS_MAX_BYTES} for a results file (keep large values in artifacts)"
    )}


def test_a_file_just_at_the_size_limit_is_read(tmp_path: Path) -> None:
    line = HEAD + "outputs:\n  blob: "
    path = outputs_with(tmp_path, line + "x" * (RESULTS_MAX_BYTES - len(line) - 1) + "\n")
    assert path.stat().st_size == RESULTS_MAX_BYTES
    assert len(read_results(path).outputs["blob"]) == RESULTS_MAX_BYTES - len(line) - 1


def test_too_many_metrics_are_refused_naming_the_count(tmp_path: Path) -> None:
    # The file had 2.5 million (290 s, 3.85 GB); one more than the limit is enough.
    count = MAX_RESULTS_ENTRIES + 1
    path = outputs_with(tmp_path, HEAD + "metrics:\n" + "".join(f"  m{i}: {i}.5\n" for i in range(count)))
    with pytest.raises(ContractError, match=rf"results.yaml: metrics: {count} entries; at most {MAX_RESULTS_ENTRIES}"):
        read_results(path)
    most = HEAD + "metrics:\n" + "".join(f"  m{i}: 1\n" for i in range(MAX_RESULTS_ENTRIES))
    assert len(parse_results(most).metrics) == MAX_RESULTS_ENTRIES


def test_too_many_nodes_are_refused(tmp_path: Path) -> None:
    path = outputs_with(tmp_path, HEAD + "outputs: {x: [" + ",".join(["1"] * RESULTS_MAX_NODES) + "]}\n")
    with pytest.raises(ContractError, match=rf"at line 2, column \d+: more than {RESULTS_MAX_NODES} YAML nodes"):
        read_results(path)


def test_the_termination_message_text_is_held_to_the_same_limits(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=rf"^pod p termination message: {RESULTS_MAX_BYTES + 1} bytes; at most"):
        parse_results(HEAD + "#" * (RESULTS_MAX_BYTES + 1 - len(HEAD)), "pod p termination message")
    outcome = read_in_child(outputs_with(tmp_path, BOMB), "pod p termination message")
    assert outcome["outcome"] == "ContractError", outcome
    assert outcome["message"].startswith("pod p termination message: at line ")
    assert "aliases expand" in outcome["message"]


# -- writing -----------------------------------------------------------------------------------


def test_results_no_reader_would_accept_are_not_written(tmp_path: Path) -> None:
    write_results({"apiVersion": "pipetune.dev/v1", "metrics": {"loss": 1.0}}, tmp_path)
    good = (tmp_path / "results.yaml").read_text()
    huge = Results(outputs={"blob": "x" * RESULTS_MAX_BYTES})
    with pytest.raises(ContractError, match=rf"results.yaml: \d+ bytes; at most {RESULTS_MAX_BYTES} for a results file"):
        write_results(huge, tmp_path)
    many = Results(outputs={"list": list(range(RESULTS_MAX_NODES))})
    with pytest.raises(ContractError, match=rf"results.yaml: more than {RESULTS_MAX_NODES} YAML nodes"):
        write_results(many, tmp_path)
    deep: list = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    with pytest.raises(ContractError, match=rf"results.yaml: collections nested deeper than {MAX_DEPTH} levels"):
        write_results(Results(outputs={"deep": deep}), tmp_path)
    with pytest.raises(ContractError, match=r"metrics.loss: 1e400 is not a finite float"):
        write_results({"apiVersion": "pipetune.dev/v1", "metrics": {"loss": 10**400}}, tmp_path)
    assert (tmp_path / "results.yaml").read_text() == good


# -- runs ----------------------------------------------------------------------------------------

HOSTILE_PROGRAM = textwrap.dedent('''
    """Leave a hostile results.yaml behind, as its argument says."""
    import os, sys
    from pathlib import Path

    target = Path(os.environ["PIPETUNE_OUTPUTS"]) / "results.yaml"
    kind = sys.argv[1]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    elif kind == "large":
        with target.open("wb") as f:
            f.write(b"apiVersion: pipetune.dev/v1\\n")
            f.truncate(100 * 2**20)
    else:
        target.write_text(Path(sys.argv[2]).read_text())
''')


@pytest.fixture
def hostile_component(tmp_path: Path, write_component: Callable[..., Path]) -> Path:
    program = tmp_path / "hostile.py"
    program.write_text(HOSTILE_PROGRAM)
    return write_component(textwrap.dedent(f"""
        name: hostile
        inputs: [{{name: kind, type: String}}, {{name: text, type: String, default: none}}]
        implementation:
          container:
            image: python:3.11
            command: [python, {program}, {{inputValue: kind}}, {{inputValue: text}}]
    """))


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("fifo", "results.yaml: is a FIFO, expected a regular YAML file"),
        ("dev-zero", "results.yaml: is a link to /dev/zero, outside "),
        ("large", f"results.yaml: 104857600 bytes; at most {RESULTS_MAX_BYTES} for a results file"),
        ("bomb", f"aliases expand to more than {RESULTS_MAX_NODES} YAML nodes"),
        ("big-int", "results.yaml: metrics.loss: 1e400 is not a finite float"),
        ("deep", f"collections nested deeper than {MAX_DEPTH} levels"),
    ],
)
def test_a_run_leaving_hostile_results_fails_with_the_reason(
    cli, hostile_component: Path, tmp_path: Path, kind: str, reason: str
) -> None:
    text = tmp_path / "text.yaml"
    text.write_text({"bomb": BOMB, "big-int": BIG_INT, "deep": DEEP}.get(kind, ""))
    result = cli("run", str(hostile_component), "--input", f"kind={kind}", "--input", f"text={text}", timeout=TIMEOUT)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert "Failed (ResultsInvalid): " in result.stderr and reason in result.stderr, result.stderr
    listing = cli("runs", "list", "--json")
    [run] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert run["status"] == "Failed" and run["reason"] == "ResultsInvalid"
    assert len(listing.stdout) < 10_000  # nothing of the file reached the run store


def _tune_experiment(program: Path, text: Path) -> str:
    """An experiment whose trials run ``program`` writing ``text`` as their results."""
    return job_experiment(["python", str(program), "results", str(text), "${trialParameters.x}"], [double("x", 0, 1)],
                          name="hostile-results")


def test_tune_with_a_metric_beyond_float_range_fails_its_trials_not_the_tuner(cli, tmp_path: Path) -> None:
    program = tmp_path / "hostile.py"
    program.write_text(HOSTILE_PROGRAM)
    text = tmp_path / "text.yaml"
    text.write_text(BIG_INT)
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(_tune_experiment(program, text))
    for _ in range(2):  # the rerun (a resume) crashed the same way
        result = cli("tune", str(experiment), timeout=TIMEOUT * 2)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 1, result.stderr
        assert "ResultsInvalid" in result.stdout and "metrics.loss: 1e400 is not a finite float" in result.stdout
        assert "experiment hostile-results Failed (ExperimentNoTrialSucceeded)" in result.stdout
