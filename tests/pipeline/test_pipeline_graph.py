"""A pipeline run records its task graph (``pipeline.json`` in the pipeline run's folder), the
edges the dashboard draws: before, nothing wrote it and every DAG was drawn without edges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SHARED
from pipetune.store import RunStore
from pipetune.ui._api import _pipeline_graph

RUN = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: graph}
spec:
  pipelineSpec:
    tasks:
      - name: first
        taskSpec:
          results: [{name: word}]
          steps:
            - {name: s, image: alpine, script: "printf hi > $(results.word.path)"}
      - name: after
        runAfter: [first]
        taskSpec:
          steps: [{name: s, image: alpine, script: "true"}]
      - name: reads
        params: [{name: w, value: $(tasks.first.results.word)}]
        taskSpec:
          params: [{name: w}]
          steps: [{name: s, image: alpine, script: "test $(params.w) = hi"}]
      - name: fan
        runAfter: [after]
        matrix:
          params: [{name: n, value: ["1", "2"]}]
        taskSpec:
          params: [{name: n}]
          steps: [{name: s, image: alpine, script: "true"}]
      - name: last
        runAfter: [fan, reads]
        taskSpec:
          steps: [{name: s, image: alpine, script: "true"}]
"""


def _graph(state_dir: Path) -> dict[str, dict]:
    store = RunStore(state_dir)
    (pipeline,) = [r for r in store.list() if r.component.startswith("pipeline/")]
    graph = _pipeline_graph(store.run_dir(pipeline.id))  # what the dashboard reads
    runs = {r.id for r in store.children([pipeline.id]).get(pipeline.id, [])}
    assert graph and {spec["run_id"] for spec in graph.values()} <= runs
    return graph


def test_a_tekton_run_records_runafter_result_and_matrix_edges(cli, state_dir: Path, tmp_path: Path) -> None:
    spec = tmp_path / "run.yaml"
    spec.write_text(RUN)
    done = cli("pipeline", "run", str(spec))
    assert done.returncode == 0, done.stderr
    needs = {key: value["needs"] for key, value in _graph(state_dir).items()}
    assert needs["first"] == [] and needs["after"] == ["first"] and needs["reads"] == ["first"]
    fan = sorted(k for k in needs if k.startswith("fan"))
    assert len(fan) == 2 and all(needs[k] == ["after"] for k in fan)
    assert needs["last"] == sorted([*fan, "reads"])


LOOPS = SHARED / "fixtures" / "kfp-compiled" / "valid" / "parallel_and_nested" / "pipeline_with_loops.yaml"


@pytest.mark.skipif(not LOOPS.is_file(), reason="needs ../shared's KFP compiled pipelines")
def test_a_kfp_loop_body_waits_for_what_its_loop_waits_for(cli, state_dir: Path) -> None:
    done = cli("pipeline", "run", str(LOOPS), "-p", 'loop_parameter=["a","b"]', timeout=300)
    assert done.returncode == 0, done.stderr
    graph = _graph(state_dir)
    # for-loop-2 iterates over args-generator-op's output: every task in its iterations waits for it.
    body = [k for k in graph if k.startswith("for-loop-2[")]
    assert len(body) == 6 and all(graph[k]["needs"] == ["args-generator-op"] for k in body)
    assert graph["args-generator-op"]["needs"] == []
    json.dumps(graph)  # plain JSON the page can draw
