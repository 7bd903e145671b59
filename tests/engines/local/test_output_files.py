"""Output parameters a run writes to files of their own (KFP's ``outputPath``) are read as
results are: a regular file inside the outputs, at most 1 MiB. They were read whole, and a
link to /dev/zero or a FIFO was followed (or silently skipped)."""

from __future__ import annotations

import json

import pytest

COMPONENT = """
name: writes-an-output
inputs: [{{name: kind, type: String}}]
outputs: [{{name: answer, type: String}}]
implementation:
  container:
    image: python:3.11
    command:
      - python
      - -c
      - |
        import os, pathlib, sys
        kind, path = sys.argv[1], pathlib.Path(sys.argv[2])
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "fine":
            path.write_text("forty-two\\n")
        elif kind == "huge":
            path.write_text("x" * (2 * 2**20))
        elif kind == "dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "fifo":
            os.mkfifo(path)
        print("loss=0.5")
      - {{inputValue: kind}}
      - {{outputPath: answer}}
"""


@pytest.mark.parametrize(("kind", "message"), [
    ("huge", "2097152 bytes; at most 1048576 for an output parameter file"),
    ("dev-zero", "is a link to /dev/zero"),
    ("fifo", "is a FIFO"),
])
def test_a_hostile_output_file_fails_the_run_naming_it(cli, write_component, kind: str, message: str) -> None:
    component = write_component(COMPONENT.format())
    result = cli("run", str(component), "--input", f"kind={kind}", "--quiet", "--json", timeout=60)
    assert result.returncode == 1, result.stderr
    record = json.loads(result.stdout)
    assert record["reason"] == "ResultsInvalid" and message in record["message"] and "answer" in record["message"]


def test_an_output_file_within_bounds_is_an_output(cli, write_component) -> None:
    component = write_component(COMPONENT.format())
    result = cli("run", str(component), "--input", "kind=fine", "--quiet", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"]["answer"] == "forty-two"
