"""`pipetune pipeline run` on PipelineRuns and TaskRuns of any Task: steps run as Tekton's
entrypoint runs them, and the run goes as Tekton's reconciler decides (when, finally, matrix,
onError, timeouts, retries, workspaces), with what can't run here refused before anything runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from pipetune.store import RunStore


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def children(state_dir: Path) -> dict[str, object]:
    records = RunStore(state_dir).list()
    parents = {r.id for r in records if r.parent_id is None}
    return {r.component: r for r in records if r.parent_id in parents}


def pipelines(state_dir: Path) -> list:
    return [r for r in RunStore(state_dir).list() if r.parent_id is None]


STEPS = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: steps-and-results}
spec:
  params:
    - {name: words, value: [alpha, beta]}
    - {name: point, value: {x: "1", y: "2"}}
  pipelineSpec:
    params:
      - {name: words, type: array}
      - {name: point, type: object, properties: {x: {type: string}, y: {type: string}}}
      - {name: greeting, default: hello}
    tasks:
      - name: produce
        params:
          - {name: first, value: "$(params.words[0])"}
          - {name: all, value: ["$(params.words[*])"]}
          - {name: y, value: "$(params.point.y)"}
        taskSpec:
          params: [{name: first}, {name: all, type: array}, {name: y}]
          results: [{name: text}, {name: list, type: array}]
          steps:
            - name: shell
              image: alpine
              script: |
                printf '%s' "$(params.first)-$(params.y)-$(context.pipelineRun.name)" > $(results.text.path)
            - name: python
              image: python:3.11
              args: ["$(params.all[*])"]
              script: |
                #!/usr/bin/env python3
                import json, sys
                open("$(results.list.path)", "w").write(json.dumps(sys.argv[1:]))
      - name: consume
        params:
          - {name: text, value: $(tasks.produce.results.text)}
          - {name: second, value: "$(tasks.produce.results.list[1])"}
        taskSpec:
          params: [{name: text}, {name: second}]
          steps:
            - name: check
              image: bash
              env: [{name: GREETING, value: $(params.greeting)}]
              script: |
                #!/usr/bin/env bash
                [[ "$(params.text)" == "alpha-2-steps-and-results" ]] || { echo "text: $(params.text)" >&2; exit 1; }
                [[ "$(params.second)" == "beta" ]] || { echo "second: $(params.second)" >&2; exit 1; }
                [[ "$GREETING" == hello ]]
"""


def test_script_steps_params_results_and_context_flow_as_in_tekton(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(write(tmp_path, STEPS)))
    assert done.returncode == 0, done.stderr
    (run,) = pipelines(state_dir)
    assert run.status == "Succeeded"
    assert set(children(state_dir)) == {"produce", "consume"}


FLOW = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: flow}
spec:
  params: [{name: mode, value: skip}]
  pipelineSpec:
    params: [{name: mode}]
    tasks:
      - name: guarded
        when: [{input: $(params.mode), operator: notin, values: [skip]}]
        taskSpec:
          results: [{name: out}]
          steps: [{name: s, image: alpine, script: "printf x > $(results.out.path)"}]
      - name: after-guarded
        runAfter: [guarded]
        taskSpec:
          steps: [{name: s, image: alpine, script: "true"}]
      - name: uses-guarded
        params: [{name: v, value: $(tasks.guarded.results.out)}]
        taskSpec:
          params: [{name: v}]
          steps: [{name: s, image: alpine, script: "true"}]
      - name: fails
        onError: $(ON_ERROR)
        runAfter: [after-guarded]
        taskSpec:
          steps: [{name: s, image: alpine, script: "echo broken >&2; exit 3"}]
      - name: after-fails
        runAfter: [fails]
        taskSpec:
          steps: [{name: s, image: alpine, script: "true"}]
    finally:
      - name: report
        params:
          - {name: all, value: $(tasks.status)}
          - {name: guarded, value: $(tasks.guarded.status)}
          - {name: fails, value: $(tasks.fails.status)}
          - {name: reason, value: $(tasks.fails.reason)}
        taskSpec:
          params: [{name: all}, {name: guarded}, {name: fails}, {name: reason}]
          steps:
            - name: s
              image: alpine
              script: echo "$(params.all) $(params.guarded) $(params.fails) $(params.reason)" > $(workspaces.out.path)/report
        workspaces: [{name: out, workspace: out}]
    workspaces: [{name: out}]
  workspaces: [{name: out, persistentVolumeClaim: {claimName: report-$(ON_ERROR)}}]
"""


def test_when_skips_a_task_not_those_only_after_it_and_a_failure_stops_all_but_finally(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(write(tmp_path, FLOW.replace("$(ON_ERROR)", "stopAndFail"))))
    assert done.returncode == 1
    ran = children(state_dir)
    assert set(ran) == {"after-guarded", "fails", "report"}  # guarded skipped (when), uses-guarded: no results
    assert "task guarded: skipped (when expressions evaluated to false" in done.stderr
    assert "task uses-guarded: skipped (results of task guarded are missing: it was skipped)" in done.stderr
    assert "task after-fails: skipped (not started: task fails failed)" in done.stderr
    (run,) = pipelines(state_dir)
    assert run.message.startswith("task fails failed: ") and "broken" in run.message
    report = state_dir / "tekton-claims" / "report-stopAndFail" / "report"
    assert report.read_text().split() == ["Failed", "None", "Failed", "Failed"]


def test_a_failure_ignored_by_on_error_continue_lets_the_run_succeed(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(write(tmp_path, FLOW.replace("$(ON_ERROR)", "continue"))))
    assert done.returncode == 0, done.stderr
    assert {"after-fails", "report"} <= set(children(state_dir))
    report = state_dir / "tekton-claims" / "report-continue" / "report"
    assert report.read_text().split() == ["Failed", "None", "Failed", "FailureIgnored"]


MATRIX = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: matrix}
spec:
  pipelineSpec:
    tasks:
      - name: fan
        matrix:
          params:
            - {name: a, value: ["1", "2"]}
            - {name: b, value: ["x", "y"]}
          include:
            - name: extra
              params: [{name: a, value: "9"}, {name: b, value: "z"}]
        taskSpec:
          params: [{name: a}, {name: b}]
          results: [{name: pair}]
          steps: [{name: s, image: alpine, script: "printf '%s' $(params.a)$(params.b) > $(results.pair.path)"}]
      - name: gather
        params:
          - {name: pairs, value: "$(tasks.fan.results.pair[*])"}
          - {name: count, value: "$(tasks.fan.matrix.length)"}
        taskSpec:
          params: [{name: pairs, type: array}, {name: count}]
          steps:
            - name: s
              image: bash
              args: ["$(params.pairs[*])"]
              script: |
                #!/usr/bin/env bash
                [[ "$*" == "1x 2x 1y 2y 9z" && "$(params.count)" == 5 ]] || { echo "got: $* / $(params.count)" >&2; exit 1; }
"""


def test_a_matrix_fans_out_in_tektons_order_and_its_results_become_arrays(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(write(tmp_path, MATRIX)))
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "started" in line and "fan[" in line][-1].startswith("task fan[4]")


RETRIES = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: retries}
spec:
  pipelineSpec:
    tasks:
      - name: flaky
        retries: 2
        taskSpec:
          steps:
            - name: s
              image: alpine
              script: '[ "$(context.task.retry-count)" = "$(context.pipelineTask.retries)" ] || exit 1'
"""


def test_retries_run_again_with_the_retry_count_in_the_context(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(write(tmp_path, RETRIES)))
    assert done.returncode == 0, done.stderr
    assert "retry 1 of 2" in done.stderr and "retry 2 of 2" in done.stderr


TIMEOUTS = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: timeouts}
spec:
  timeouts: {pipeline: $(PIPELINE)}
  pipelineSpec:
    tasks:
      - name: slow
        timeout: $(TASK)
        taskSpec:
          steps: [{name: s, image: alpine, script: "sleep 60"}]
      - name: next
        runAfter: [slow]
        taskSpec:
          steps: [{name: s, image: alpine, script: "true"}]
"""


@pytest.mark.parametrize(("pipeline", "task", "words"), [
    ("0", "1s", "task slow failed: exceeded its timeout of 1s"),
    ("1s", "0", "the PipelineRun timed out after 1s"),
])
def test_a_task_or_pipeline_timeout_stops_the_run(cli, state_dir, tmp_path, pipeline, task, words):
    began = time.monotonic()
    done = cli("pipeline", "run", str(write(tmp_path, TIMEOUTS.replace("$(PIPELINE)", pipeline).replace("$(TASK)", task))))
    assert done.returncode == 1
    assert time.monotonic() - began < 40  # the step sleeps 60 s
    (run,) = pipelines(state_dir)
    assert words in run.message and "not started: next" in run.message


def test_results_beyond_tektons_limit_fail_the_task_with_tektons_message(cli, state_dir, tmp_path):
    text = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: big}
spec:
  taskSpec:
    results: [{name: big}]
    steps: [{name: s, image: python:3.11, script: "#!/usr/bin/env python3\\nopen('$(results.big.path)', 'w').write('x' * 5000)"}]
"""
    done = cli("pipeline", "run", str(write(tmp_path, text)))
    assert done.returncode == 1
    assert "Termination message is above max allowed size 4096, caused by large task result." in pipelines(state_dir)[0].message


def test_a_missing_program_is_refused_before_anything_runs(cli, state_dir, tmp_path):
    text = STEPS.replace("image: bash", "image: example.com/tools:1")
    text = text.replace("#!/usr/bin/env bash", "#!/usr/bin/env no-such-tool")
    done = cli("pipeline", "run", str(write(tmp_path, text)))
    assert done.returncode == 2
    assert ("task consume step check: image 'example.com/tools:1' runs 'no-such-tool', which is not on this machine"
            in done.stderr)
    assert RunStore(state_dir).list() == []


CATALOG_NAME = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: local}
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: train-sklearn}
spec:
  workspaces: [{name: conf, readOnly: true}]
  steps:
    - name: s
      image: alpine
      env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]
      script: '[ "$MODE" = local ] && [ "$(cat $(workspaces.conf.path)/mode)" = local ]'
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: first}
spec:
  workspaces: [{name: conf, configMap: {name: settings}}]
  pipelineSpec:
    workspaces: [{name: conf}]
    tasks:
      - {name: train, taskRef: {name: train-sklearn}, workspaces: [{name: conf, workspace: conf}]}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: second}
spec:
  workspaces: [{name: conf, configMap: {name: settings}}]
  taskRef: {name: train-sklearn}
"""


def test_every_run_in_a_file_runs_and_a_task_in_the_file_wins_over_the_catalog(cli, state_dir, tmp_path):
    done = cli("pipeline", "run", str(write(tmp_path, CATALOG_NAME)))  # its first document is a ConfigMap
    assert done.returncode == 0, done.stderr
    runs = pipelines(state_dir)
    assert sorted(r.component for r in runs) == ["pipeline/first", "pipeline/second"]
    assert all(r.status == "Succeeded" for r in runs)
    assert {r.component for r in RunStore(state_dir).list() if r.parent_id} == {"train", "second"}  # no catalog run


def test_tasks_come_from_a_directory_given_with_f(cli, state_dir, tmp_path):
    documents = CATALOG_NAME.split("---")
    (tmp_path / "tasks").mkdir()
    write(tmp_path / "tasks", documents[0], "configmap.yaml")
    write(tmp_path / "tasks", documents[1].replace("train-sklearn", "my-task"), "task.yml")
    run = write(tmp_path, documents[2].replace("train-sklearn", "my-task"))
    done = cli("pipeline", "run", str(run), "-f", str(tmp_path / "tasks"))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("edit", "words"), [
    ({"taskRef": {"resolver": "git", "params": []}},
     "taskRef.resolver: the git resolver fetches from a cluster or the network"),
    ({"pipelineRef": {"name": "inner"}}, "a Pipeline inside a Pipeline (Tekton's alpha pipelines-in-pipelines)"),
    ({"taskSpec": {"sidecars": [{"name": "db", "image": "postgres"}],
                   "steps": [{"name": "s", "image": "alpine", "script": "true"}]}},
     "sidecars (db) run beside the steps in a pod"),
    ({"taskSpec": {"steps": [{"name": "s", "image": "alpine", "script": "true"}]}, "when": [{"cel": "'a' == 'a'"}]},
     "when: CEL expressions"),
    ({"taskRef": {"apiVersion": "example.dev/v1", "kind": "Wait"}}, "custom task example.dev/v1/Wait has no controller here"),
])
def test_what_cannot_run_here_is_refused_naming_it(cli, state_dir, tmp_path, edit, words):
    import yaml

    task = {"name": "t", **edit}
    run = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "r"},
           "spec": {"pipelineSpec": {"tasks": [task]}}}
    done = cli("pipeline", "run", str(write(tmp_path, yaml.safe_dump(run))))
    assert done.returncode == 2
    assert words in done.stderr and "spec.pipelineSpec.tasks[0] (t)" in done.stderr
    assert RunStore(state_dir).list() == []


def test_service_accounts_and_pod_templates_are_reported_not_dropped(cli, state_dir, tmp_path):
    text = RETRIES.replace("spec:\n  pipelineSpec:", "spec:\n  taskRunTemplate:\n    serviceAccountName: robot\n"
                           "    podTemplate: {nodeSelector: {disk: ssd}}\n  pipelineSpec:", 1)
    done = cli("pipeline", "run", str(write(tmp_path, text)))
    assert done.returncode == 0, done.stderr
    assert "note: " in done.stderr and "serviceAccountName 'robot' is not used" in done.stderr
    assert "the podTemplate is not applied" in done.stderr


def test_sigterm_cancels_the_running_task_and_records_the_run_cancelled(state_dir, tmp_path):
    path = write(tmp_path, TIMEOUTS.replace("$(PIPELINE)", "0").replace("$(TASK)", "0"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "pipetune", "--state-dir", str(state_dir), "pipeline", "run",
                                str(path)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = RunStore(state_dir).list() if (state_dir / "runs.db").exists() else []
        if any(r.parent_id and r.status == "Running" for r in records):
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the task never started")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    records = RunStore(state_dir).list()
    assert {r.status for r in records} == {"Cancelled"}


def test_timeouts_tasks_cancels_the_dag_and_finally_still_runs(cli, state_dir, tmp_path):
    text = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: tasks-timeout}
spec:
  timeouts: {tasks: 1s, finally: 30s}
  pipelineSpec:
    tasks:
      - name: slow
        taskSpec:
          steps: [{name: s, image: alpine, script: "sleep 60"}]
    finally:
      - name: report
        params: [{name: slow, value: $(tasks.slow.status)}]
        taskSpec:
          params: [{name: slow}]
          steps: [{name: s, image: alpine, script: '[ "$(params.slow)" = Failed ]'}]
"""
    began = time.monotonic()
    done = cli("pipeline", "run", str(write(tmp_path, text)))
    assert done.returncode == 1
    assert time.monotonic() - began < 40
    ran = children(state_dir)
    assert ran["slow"].status == "Cancelled" and ran["report"].status == "Succeeded"
    assert "timeouts.tasks of 1s passed" in pipelines(state_dir)[0].message
