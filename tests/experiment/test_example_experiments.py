"""The example Experiments in pipelines/: they load, render, and (with scikit-learn) run."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pipetune.contract import read_results
from pipetune.engines.local import local_program
from pipetune.experiment import load_experiment, local_command, render_trial

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"


def test_tune_sklearn_loads_with_its_component_and_defaults() -> None:
    experiment = load_experiment(PIPELINES / "tune-sklearn.yaml")
    assert experiment.name == "tune-sklearn"
    assert experiment.component is not None
    assert experiment.component.path == ROOT / "components" / "train-sklearn" / "component.yaml"
    assert experiment.algorithm.name is None  # pipetune's default
    assert experiment.objective.metric_names == ("accuracy", "f1", "log_loss")
    assert not experiment.objective.minimize
    assert (experiment.parallel_trial_count, experiment.max_trial_count, experiment.max_failed_trial_count) == (2, 20, 3)
    assert experiment.seed is not None
    assert experiment.space.names == ["n_estimators", "max_depth", "min_samples_split", "max_features", "criterion"]


def test_tune_sklearn_renders_typed_arguments() -> None:
    experiment = load_experiment(PIPELINES / "tune-sklearn.yaml")
    assignment = {"n_estimators": 120, "max_depth": 9, "min_samples_split": 3, "max_features": "0.5", "criterion": "entropy"}
    arguments = render_trial(experiment, assignment, "tune-sklearn-0")
    assert {k: arguments[k] for k in assignment} == assignment
    assert all(type(arguments[k]) is int for k in ("n_estimators", "max_depth", "min_samples_split"))
    assert arguments["dataset"] == "digits"


def test_katib_job_local_is_a_plain_katib_experiment_that_maps_locally() -> None:
    experiment = load_experiment(PIPELINES / "katib-job-local.yaml")
    assert experiment.is_katib and experiment.seed == 3
    rendered = render_trial(experiment, {"n_estimators": 30, "max_depth": 6, "max_features": "log2"}, "kjl-0")
    command = local_command(rendered, experiment)
    assert command.command == (
        "python",
        "-m",
        "pipetune.catalog.train_sklearn",
        "--dataset=digits",
        "--n_estimators=30",
        "--max_depth=6",
        "--max_features",
        "log2",
        "--stages=4",
    )


def test_katib_job_local_runs_and_reports(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    experiment = load_experiment(PIPELINES / "katib-job-local.yaml")
    rendered = render_trial(experiment, {"n_estimators": 20, "max_depth": 4, "max_features": "sqrt"}, "kjl-1")
    argv = local_program(local_command(rendered, experiment).command)
    assert argv is not None
    done = subprocess.run(
        argv,
        check=False,
        env={**os.environ, "PIPETUNE_OUTPUTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = read_results(tmp_path)
    assert 0.5 < results.metrics["accuracy"] <= 1.0
    # What Katib's StdOut collector would see through the experiment's filter.
    pattern = re.compile(experiment.metrics_collector.filters[0])
    last = [line for line in done.stdout.splitlines() if line.startswith("pipetune.report")][-1]
    seen = {m.group(1): float(m.group(2)) for m in pattern.finditer(last)}
    assert seen["accuracy"] == pytest.approx(results.metrics["accuracy"])
    assert "f1" in seen
