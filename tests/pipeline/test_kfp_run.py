"""`pipetune pipeline run` on small KFP pipelines compiled here, one per behaviour the issue
found wrong: each test failed before (artifact metadata lost, an int default passed as 3.0,
retryPolicy ignored, a Secret's env silently missing, an optional parameter demanded)."""

import json
from pathlib import Path
from typing import Optional

import pytest

from conftest import ROOT
from pipetune.store import RunRecord, RunStore
from pipetune.tracking import LocalSource
from pipetune.ui import Api

pytest.importorskip("kfp")
pytest.importorskip("kfp.kubernetes")
from kfp import compiler, components, dsl, kubernetes  # noqa: E402
from kfp.dsl import Input, Metrics  # noqa: E402


def compiled(pipeline, tmp_path: Path) -> Path:
    target = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(target))
    return target


def outputs(state_dir: Path) -> dict:
    return {r.component: r.outputs for r in RunStore(state_dir).list() if r.parent_id}


@dsl.component(base_image="python:3.11")
def accuracy_of(metrics: Input[Metrics]) -> float:
    return metrics.metadata["accuracy"]


def test_a_catalog_components_metrics_reach_a_lightweight_consumer(cli, state_dir, tmp_path):
    train = components.load_component_from_file(str(ROOT / "components" / "train-sklearn" / "component.yaml"))

    @dsl.pipeline(name="metrics-chain")
    def chain():
        accuracy_of(metrics=train(dataset="iris", n_estimators=5).outputs["metrics"])

    done = cli("pipeline", "run", str(compiled(chain, tmp_path)), timeout=300)
    assert done.returncode == 0, done.stderr
    (trained,) = [r for r in RunStore(state_dir).list() if r.component == "train-sklearn"]
    assert 0 < outputs(state_dir)["accuracy-of"]["Output"] == trained.metrics["accuracy"]


@dsl.component(base_image="python:3.11")
def count_to(n: int) -> int:
    return len(list(range(n)))


def test_an_int_default_compiled_as_a_float_arrives_as_an_int(cli, state_dir, tmp_path):
    @dsl.pipeline(name="int-default")
    def counting(n: int = 3):
        count_to(n=n)

    text = compiled(counting, tmp_path).read_text()
    assert "defaultValue: 3.0" in text  # what the compiler writes
    done = cli("pipeline", "run", str(tmp_path / "pipeline.yaml"))
    assert done.returncode == 0, done.stderr
    assert outputs(state_dir)["count-to"]["Output"] == 3


@dsl.component(base_image="python:3.11")
def flaky(counter: str) -> int:
    from pathlib import Path

    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


def test_retry_policy_retries_a_failing_task(cli, state_dir, tmp_path):
    @dsl.pipeline(name="retrying")
    def retrying(counter: str):
        flaky(counter=counter).set_retry(num_retries=3, backoff_duration="0s", backoff_factor=1.0)

    done = cli("pipeline", "run", str(compiled(retrying, tmp_path)), "-p", f"counter={tmp_path / 'count'}")
    assert done.returncode == 0, done.stderr
    assert "task flaky: Failed (NonZeroExitCode" in done.stderr and "retry 2 of 3" in done.stderr
    attempts = sorted((r for r in RunStore(state_dir).list() if r.component == "flaky"), key=lambda r: r.started_at or 0)
    assert [r.status for r in attempts] == ["Failed", "Failed", "Succeeded"]
    assert attempts[-1].outputs["Output"] == 3


@dsl.component(base_image="python:3.11")
def whoami() -> str:
    import os

    return os.environ["USER_NAME"]


def test_a_secret_as_env_comes_from_the_local_secrets_folder_or_is_refused(cli, state_dir, tmp_path):
    @dsl.pipeline(name="with-secret")
    def with_secret():
        task = whoami()
        kubernetes.use_secret_as_env(task, secret_name="creds", secret_key_to_env={"user": "USER_NAME"})

    path = compiled(with_secret, tmp_path)
    done = cli("pipeline", "run", str(path))
    assert done.returncode == 2
    assert f"{path}: task whoami: Secret 'creds' is not on this machine: give --secrets DIR" in done.stderr
    assert RunStore(state_dir).list() == []
    (tmp_path / "secrets" / "creds").mkdir(parents=True)
    (tmp_path / "secrets" / "creds" / "user").write_text("ada")
    done = cli("pipeline", "run", str(path), "--secrets", str(tmp_path / "secrets"))
    assert done.returncode == 0, done.stderr
    assert outputs(state_dir)["whoami"]["Output"] == "ada"


@dsl.component(base_image="python:3.11")
def greet(name: Optional[str] = None) -> str:  # noqa: UP045 - kfp reads typing.Optional, not X | None
    return f"hello {name or 'nobody'}"


def test_an_optional_parameter_without_a_default_is_not_demanded(cli, state_dir, tmp_path):
    @dsl.pipeline(name="optional")
    def optional(name: Optional[str] = None):  # noqa: UP045
        greet(name=name)

    done = cli("pipeline", "run", str(compiled(optional, tmp_path)))
    assert done.returncode == 0, done.stderr
    assert outputs(state_dir)["greet"]["Output"] == "hello nobody"


@dsl.component(base_image="python:3.11")
def token() -> str:
    import uuid

    return uuid.uuid4().hex


@dsl.component(base_image="python:3.11")
def echo(text: str) -> str:
    return text


def test_caching_reuses_outputs_of_the_same_component_and_inputs_unless_told_not_to(cli, state_dir, tmp_path):
    @dsl.pipeline(name="cached")
    def cached():
        echo(text=token().output)

    path = compiled(cached, tmp_path)
    first = cli("pipeline", "run", str(path))
    assert first.returncode == 0, first.stderr
    made = outputs(state_dir)["token"]["Output"]
    second = cli("pipeline", "run", str(path))
    assert second.returncode == 0, second.stderr
    assert "task token: Succeeded (Cached: outputs of run" in second.stderr
    assert "task echo: Succeeded (Cached" in second.stderr  # same inputs again
    third = cli("pipeline", "run", str(path), "--no-cache")
    assert "Cached" not in third.stderr and third.returncode == 0
    tokens = [r.outputs["Output"] for r in sorted(RunStore(state_dir).list(), key=lambda r: (r.started_at or 0.0, r.id))
              if r.component == "token" and r.reason != "Cached"]
    assert len(tokens) == 2 and tokens[0] == made and tokens[1] != made


def pipeline_runs(state_dir: Path) -> list[RunRecord]:
    """The pipeline runs, oldest first: by start time, since two runs started in one second
    have ids whose order is their random suffix's (the cached-run test once read them swapped)."""
    return sorted((r for r in RunStore(state_dir).list() if r.component.startswith("pipeline/")),
                  key=lambda r: (r.started_at or 0.0, r.id))


def tasks_of(state_dir: Path, pipeline_id: str) -> dict[str, RunRecord]:
    return {r.component: r for r in RunStore(state_dir).list(parent_id=pipeline_id)}


def test_a_second_run_records_its_tasks_as_cached_with_the_first_runs_outputs(cli, state_dir, tmp_path):
    @dsl.pipeline(name="cached")
    def cached():
        echo(text=token().output)

    path = compiled(cached, tmp_path)
    assert cli("pipeline", "run", str(path)).returncode == 0
    second = cli("pipeline", "run", str(path))
    assert second.returncode == 0, second.stderr
    first_id, second_id = (r.id for r in pipeline_runs(state_dir))
    ran, reused = tasks_of(state_dir, first_id), tasks_of(state_dir, second_id)
    assert sorted(reused) == ["echo", "token"]
    for name, record in reused.items():
        assert (record.status, record.reason) == ("Succeeded", "Cached")
        assert record.outputs == ran[name].outputs and record.outputs["Output"]
        assert f"outputs of run {ran[name].id} reused" in (record.message or "")
        assert record.outputs_dir == ran[name].outputs_dir
    listed = cli("runs", "list").stdout
    assert f"{reused['token'].id}  token" in listed and "Succeeded (Cached)" in listed
    shown = cli("runs", "show", reused["echo"].id).stdout
    assert "Succeeded (Cached)" in shown and f"outputs of run {ran['echo'].id} reused" in shown
    assert f"parent       {second_id}" in shown
    reply = Api(LocalSource(state_dir)).handle(["api", "pipelines", second_id], {})
    assert reply.status == 200, reply.body
    tasks = {t["name"]: t["run"] for t in json.loads(reply.body)["tasks"]}
    assert {k: (v["status"], v["reason"]) for k, v in tasks.items()} == {
        "echo": ("Succeeded", "Cached"), "token": ("Succeeded", "Cached")}
    # The first run deleted: its output parameters are still served, and recorded, from the cache.
    assert cli("runs", "delete", first_id).returncode == 0
    assert cli("pipeline", "run", str(path)).returncode == 0
    third = tasks_of(state_dir, pipeline_runs(state_dir)[-1].id)
    assert {k: (v.reason, v.outputs) for k, v in third.items()} == {
        k: ("Cached", v.outputs) for k, v in reused.items()}


def test_two_tasks_with_the_same_component_and_inputs_in_one_run_are_both_recorded_one_cached(
        cli, state_dir, tmp_path):
    @dsl.pipeline(name="twice")
    def twice():
        first = echo(text="same")
        echo(text="same").after(first)

    done = cli("pipeline", "run", str(compiled(twice, tmp_path)))
    assert done.returncode == 0, done.stderr
    (pipeline,) = pipeline_runs(state_dir)
    tasks = tasks_of(state_dir, pipeline.id)
    assert sorted(tasks) == ["echo", "echo-2"]
    assert (tasks["echo"].status, tasks["echo"].reason) == ("Succeeded", "Completed")
    assert (tasks["echo-2"].status, tasks["echo-2"].reason) == ("Succeeded", "Cached")
    assert tasks["echo-2"].outputs == tasks["echo"].outputs == {"Output": "same"}
    assert f"outputs of run {tasks['echo'].id} reused" in (tasks["echo-2"].message or "")
