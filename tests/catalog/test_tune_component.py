"""components/tune: the tuner as a pipeline step, run the way an engine runs it."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from conftest import DATA


def _experiment_text(**spec: object) -> str:
    data = yaml.safe_load((DATA / "experiments" / "quadratic.yaml").read_text())
    data["spec"].update({"maxTrialCount": 4, "parallelTrialCount": 2, **spec})
    command = data["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]
    del command[6:]  # no sleep
    return yaml.safe_dump(data)


def test_tune_step_returns_best_parameters_as_outputs(cli, state_dir: Path) -> None:
    result = cli("run", "components/tune/component.yaml", "--input", f"experiment={_experiment_text()}",
                 "--input", "seed=4", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    outputs = Path(record["outputs_dir"])
    best = json.loads((outputs / "best_parameters").read_text())
    assert set(best) == {"x", "y"}
    objective = float((outputs / "best_objective").read_text())
    assert objective == (best["x"] - 0.3) ** 2 + (best["y"] - 0.7) ** 2
    trials = json.loads((outputs / "trials").read_text())
    assert len(trials) == 4 and {t["status"] for t in trials} == {"Succeeded"}
    results = yaml.safe_load((outputs / "results.yaml").read_text())
    assert results["outputs"]["best_parameters"] == best
    assert results["metrics"]["best_loss"] == objective and results["metrics"]["trials"] == 4
    assert record["metrics"]["best_objective"] == objective
    # Progress went to the step's log, one line per finished trial.
    log = (outputs.parent / "logs" / "stdout.log").read_text()
    assert "tune: 4/4 done, 0 running, best loss" in log


def test_an_invalid_experiment_fails_the_step_with_one_line(cli) -> None:
    bad = _experiment_text(parallelTrialCount=0)
    result = cli("run", "components/tune/component.yaml", "--input", f"experiment={bad}")
    assert result.returncode == 1
    record_message = result.stderr.strip().splitlines()[-1]
    assert "exited with code 2" in record_message
    assert "tune: error: input 'experiment': spec.parallelTrialCount" in record_message
