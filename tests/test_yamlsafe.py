"""pipetune.yamlsafe: every YAML file pipetune reads, read safely (issue 14).

Valid input loads exactly as ``yaml.safe_load`` loads it (every YAML file of the repository is
compared); hostile input (alias bombs, deep nesting, huge integers, FIFOs, devices, huge files)
is refused with one line naming the file, quickly, in little memory, never a traceback."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT
from pipetune.errors import SpecError
from pipetune.limits import MAX_ALIASES, MAX_DEPTH, SPEC_MAX_BYTES, SPEC_MAX_NODES, YamlLimits
from pipetune.yamlsafe import (
    SPEC_LIMITS,
    load_yaml_documents,
    load_yaml_file,
    load_yaml_text,
    read_text_file,
)

MEMORY = 300 * 2**20
TIMEOUT = 60
SHARED = ROOT.parent / "shared"


def yaml_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*.y*ml") if p.is_file())


def repository_yaml() -> list[Path]:
    return yaml_files(ROOT / "pipelines", ROOT / "components", ROOT / "manifests", ROOT / "tests")


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types and key order all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def assert_loads_as_safe_load(files: list[Path]) -> None:
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            with pytest.raises(SpecError, match="malformed YAML"):
                load_yaml_documents(path)
            continue
        assert same(load_yaml_documents(path), [d for d in documents if d is not None]), path
        assert same(load_yaml_file(path, first=True), documents[0] if documents else None), path
        if len(documents) <= 1:
            assert same(load_yaml_file(path), yaml.safe_load(text)), path


def test_every_yaml_file_of_the_repository_loads_as_safe_load_loads_it() -> None:
    files = repository_yaml()
    assert len(files) > 20  # the repository alone has some 30
    assert_loads_as_safe_load(files)


def test_every_yaml_file_of_the_shared_fixtures_loads_as_safe_load_loads_it() -> None:
    """Other teams' inputs (Katib, KFP, Tekton examples); a user's clone has none of them."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    assert_loads_as_safe_load(yaml_files(SHARED))


VALID = [
    "",
    "---\n",
    "a: 1\nb: [1, 2.5, .inf, -.nan, 0x1f, 0o17, 1_000, 190:20:30, true, ~, 2001-12-14]\n",
    "a: !!binary aGVsbG8=\nb: !!set {x, y}\nc: !!omap [{k: 1}]\nd: '9e-06'\ne: 9e-06\n",
    "base: &b {x: 1}\nuse: {<<: *b, y: 2}\nalias: *b\nscalar: &s text\nagain: *s\n",
    "text: |\n  line one\r\n  line two\r\n",
    "\ufeffkey: value\n",
    "{a: 1, a: 2}\n",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_text_loads_as_safe_load_loads_it(text: str) -> None:
    assert same(load_yaml_text(text, "x"), yaml.safe_load(text))


def test_crlf_and_a_byte_order_mark_in_a_file_read_as_read_text_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: |\r\n  one\r\n  two\rb: 1\r\n")
    assert read_text_file(path) == path.read_text(encoding="utf-8")
    assert load_yaml_file(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1", "x: malformed YAML at line 1, column 6: expected ',' or ']', but got '<stream end>'"),
        ("a: 1\n---\nb: 2\n", "x: malformed YAML at line 2, column 1: but found another document"),
        ("a: *nope", "x: malformed YAML at line 1, column 4: found undefined alias 'nope'"),
        ("!!python/object/apply:os.system [true]",
         "x: malformed YAML at line 1, column 1: could not determine a constructor for the tag "
         "'tag:yaml.org,2002:python/object/apply:os.system'"),
        ("when: 2001-13-45", "x: malformed YAML at line 1, column 7: month must be in 1..12"),
        ("n: " + "1" * 5000, "x: at line 1, column 4: an integer of 5000 characters; at most 4300"),
        ("n: 1" + ":1" * 3000, "x: at line 1, column 4: an integer of 6001 characters; at most 4300"),
        # Explicit tags on values they do not fit: AttributeError, KeyError tracebacks before.
        ("when: !!timestamp soon", "x: malformed YAML at line 1, column 7: 'soon' is not a valid timestamp"),
        ("flag: !!bool maybe", "x: malformed YAML at line 1, column 7: 'maybe' is not a valid bool"),
        ("n: !!int {a: 1}", "x: malformed YAML at line 1, column 4: expected a scalar node, but found mapping"),
    ],
)
def test_bad_text_is_one_line_naming_the_source(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_yaml_text(text, "x")
    assert str(caught.value) == expected


def test_the_first_document_is_read_without_the_rest() -> None:
    assert load_yaml_text("a: 1\n---\nb: [\n", "x", first=True) == {"a": 1}


# -- nesting, aliases, nodes ----------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_nesting_past_the_limit_is_refused_and_up_to_it_reads() -> None:
    assert load_yaml_text(nested(MAX_DEPTH), "x") is not None
    refused = rf"^x: at line 1, column {MAX_DEPTH + 1}: collections nested deeper than {MAX_DEPTH} levels$"
    with pytest.raises(SpecError, match=refused):
        load_yaml_text(nested(MAX_DEPTH + 1), "x")
    with pytest.raises(SpecError, match="collections nested deeper"):
        load_yaml_text(nested(900), "x")  # a RecursionError traceback before
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(MAX_DEPTH + 5))
    with pytest.raises(SpecError, match="collections nested deeper"):
        load_yaml_text(block, "x")


def laughs(levels: int) -> str:
    names = "abcdefghij"
    lines = ["a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for level in range(1, levels):
        lines.append(f"{names[level]}: &{names[level]} [{','.join(['*' + names[level - 1]] * 10)}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_once() -> None:
    start = time.monotonic()
    with pytest.raises(SpecError, match=rf"^x: at line \d+, column \d+: aliases expand to more than {SPEC_MAX_NODES} YAML nodes"):
        load_yaml_text(laughs(9), "x")
    assert time.monotonic() - start < 10  # milliseconds, really; a bound for a loaded machine


def test_aliases_are_counted() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n"
    assert len(load_yaml_text(text, "x")["b"]) == MAX_ALIASES
    with pytest.raises(SpecError, match=rf"more than {MAX_ALIASES} aliases"):
        load_yaml_text(text.replace("]", ", *a]"), "x")


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(SpecError, match=r"^x: at line 1, column 5: alias \*a refers to a collection that contains it$"):
        load_yaml_text("&a [*a]", "x")


def test_nodes_are_counted_in_every_document_of_a_file(tmp_path: Path) -> None:
    limits = YamlLimits(max_bytes=10_000, max_nodes=10, what="a test file")
    assert load_yaml_text("[1, 2, 3, 4, 5, 6, 7, 8, 9]", "x", limits=limits) == list(range(1, 10))
    with pytest.raises(SpecError, match=r"more than 10 YAML nodes \(keys, values, collections\), the most a test file may hold"):
        load_yaml_text("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "x", limits=limits)
    path = tmp_path / "many.yaml"
    path.write_text("[1, 2, 3]\n---\n[4, 5, 6]\n---\n[7, 8, 9]\n")
    with pytest.raises(SpecError, match="more than 10 YAML nodes"):
        load_yaml_documents(path, limits=limits)


# -- files ------------------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    outcome = load_in_child(fifo)
    assert outcome == {"outcome": "SpecError", "message": f"{fifo}: is a FIFO, expected a regular YAML file"}


def test_a_device_is_refused_without_reading(tmp_path: Path) -> None:
    link = tmp_path / "spec.yaml"
    link.symlink_to("/dev/zero")
    outcome = load_in_child(link)
    assert outcome == {"outcome": "SpecError",
                       "message": f"{link} (a link to /dev/zero): is a character device, expected a regular YAML file"}
    with pytest.raises(SpecError, match=r"^/dev/null: is a character device"):
        load_yaml_file("/dev/null")


def test_a_directory_and_a_missing_file_keep_their_messages(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=rf"^{tmp_path}: is a directory, expected a YAML file$"):
        load_yaml_file(tmp_path)
    with pytest.raises(SpecError, match=rf"^{tmp_path}/nope.yaml: file not found$"):
        load_yaml_file(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match=rf"^{tmp_path}/nope.yaml: file not found$"):
        load_yaml_documents(tmp_path / "nope.yaml")


def test_an_unreadable_file_and_bad_utf8_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(SpecError, match=r"spec.yaml: cannot be read: 'utf-8' codec can't decode byte 0xff"):
        load_yaml_file(path)


def test_a_file_past_the_size_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    with path.open("wb") as handle:
        handle.truncate(SPEC_MAX_BYTES + 1)
    outcome = load_in_child(path)
    assert outcome == {"outcome": "SpecError",
                       "message": f"{path}: {SPEC_MAX_BYTES + 1} bytes; at most {SPEC_MAX_BYTES} for a spec file"}
    with pytest.raises(SpecError, match=rf"^x: {SPEC_MAX_BYTES + 1} bytes; at most {SPEC_MAX_BYTES} for a spec file$"):
        load_yaml_text("#" * (SPEC_MAX_BYTES + 1), "x")


def test_within_refuses_a_link_out_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("a: 1\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "in.yaml").symlink_to("../outside.yaml")
    assert load_yaml_file(folder / "in.yaml") == {"a": 1}  # a spec file may be a link anywhere
    with pytest.raises(SpecError, match=rf"in.yaml: is a link to {tmp_path}/outside.yaml, outside {folder}"):
        load_yaml_file(folder / "in.yaml", within=folder)


def test_the_defaults_are_the_spec_limits() -> None:
    assert SPEC_LIMITS.max_bytes == SPEC_MAX_BYTES and SPEC_LIMITS.max_nodes == SPEC_MAX_NODES


CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
from pipetune.yamlsafe import load_yaml_file
try:
    load_yaml_file(sys.argv[1])
    print(json.dumps({{"outcome": "read"}}))
except BaseException as exc:
    print(json.dumps({{"outcome": type(exc).__name__, "message": str(exc)}}))
"""


def load_in_child(path: Path) -> dict:
    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(memory=MEMORY), str(path)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)


# -- through the CLI ----------------------------------------------------------------------------

EXPERIMENT = """\
apiVersion: pipetune.dev/v1alpha1
kind: Experiment
metadata: {name: bomb}
spec:
  objective: {type: minimize, objectiveMetricName: loss}
  parameters:
    - {name: x, parameterType: double, feasibleSpace: {min: "0", max: "1"}}
  trialTemplate:
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: training-container
                image: python:3.11
                command: [python, train.py, "${trialParameters.x}"]
                env:
"""


def test_an_alias_bomb_experiment_is_a_spec_error(cli, tmp_path: Path) -> None:
    # A 1 KB file that hung `pipetune tune` for minutes at 2 GB.
    names = "abcdefghi"
    env = ["                  - {name: A, value: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]}"]
    for level in range(1, 9):
        env.append(f"                  - {{name: {names[level].upper()}, value: &{names[level]} "
                   f"[{','.join(['*' + names[level - 1]] * 10)}]}}")
    experiment = tmp_path / "experiment.yaml"
    experiment.write_text(EXPERIMENT + "\n".join(env) + "\n")
    assert experiment.stat().st_size < 1500
    result = cli("tune", str(experiment), timeout=TIMEOUT)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"pipetune: error: {experiment}: at line ")
    assert f"aliases expand to more than {SPEC_MAX_NODES} YAML nodes" in result.stderr


def _alike_corpus() -> list[Any]:
    """Data of the kind ``dump_yaml`` gives libyaml's emitter: every string of up to three of
    its characters in each position, and random nested results-like documents."""
    import itertools
    import random

    chars = "aZ09_./:@+=, -"
    texts = ["".join(t) for n in (1, 2, 3) for t in itertools.product(chars, repeat=n)]
    texts += ["true", "null", "123", "1.5", "0o7", "yes", "No", "1_000", "0x1F", "a" * 64,
              "a b " * 16, "2026-12-04", "12:30:00", "pipetune.dev/v1", "s3://bucket/exp-1/model"]
    corpus: list[Any] = []
    for text in texts:
        corpus += [{"k": text}, {text: 1}, [text], {"k": {text: [text]}}]
    rng = random.Random(0)
    numbers = [0.0, -0.0, 1e-5, 1e16, 1e-300, 1e300, 0.1, 1 / 3, float(2**53), math.inf, -math.inf, math.nan,
               10**20, -7, True, False, None]

    def value(depth: int) -> Any:
        kind = rng.randrange(6)
        if depth < 3 and kind == 0:
            return {rng.choice(texts): value(depth + 1) for _ in range(rng.randrange(4))}
        if depth < 3 and kind == 1:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        if kind == 2:
            return rng.choice(texts)
        return rng.choice(numbers + [rng.random() * 10 ** rng.randint(-20, 20)])

    for _ in range(3000):
        corpus.append({"apiVersion": "pipetune.dev/v1", "metrics": {rng.choice(texts): value(3)},
                       "outputs": value(0)})
    return corpus


@pytest.mark.skipif(getattr(yaml, "CSafeDumper", None) is None, reason="PyYAML built without libyaml")
def test_dump_yaml_through_libyaml_writes_what_pyyaml_writes() -> None:
    """dump_yaml takes libyaml's emitter for simple data (a trial's results.yaml): the text
    must be PyYAML's own, byte for byte, or a file would change with the build of PyYAML."""
    from pipetune.yamlsafe import _emits_alike, dump_yaml

    for data in _alike_corpus():
        assert _emits_alike(data), data
        expected = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
        assert dump_yaml(data) == expected, data
    # Where the two emitters differ, PyYAML's own writes it.
    for data in ({"k": ""}, {"": 1}, {"k": "x" * 65}, {"k": "é"}, {"k": "a\nb"}, {"k": "#x"}, {"k": (1, 2)}):
        assert not _emits_alike(data)
        assert dump_yaml(data) == yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
