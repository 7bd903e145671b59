"""Every front end builds its tuner through ``tuner.session.Session``, so every one checks the
trial template before any trial runs: the CLI, the Python API (functions and components),
the ``tune`` catalog component and the controller.

The launchers' ``check`` is replaced by one that refuses with a marker; each front end must
fail with that marker, through Session, having started no trial.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import pipetune
from conftest import DATA, ROOT
from controller.conftest import EXPERIMENTS, TASKRUNS, experiment_spec, start_controller, wait_status  # noqa: F401
from kube.conftest import api_client, cluster, namespace  # noqa: F401 - fixtures
from pipetune.catalog import tune
from pipetune.cli import main
from pipetune.errors import SpecError
from pipetune.tuner import launchers
from pipetune.tuner.session import Session

MARKER = "refused by the probe check"


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The launcher kinds Session checked, in order; every check refuses."""
    seen: list[str] = []
    original = Session.__init__

    def init(self: Session, config: Any, launcher: Any) -> None:
        seen.append(type(launcher).__name__)
        original(self, config, launcher)

    def refuse(self: Any, space: Any) -> None:
        raise SpecError(f"{type(self).__name__}: {MARKER}")

    monkeypatch.setattr(Session, "__init__", init)
    for name in ("ComponentLauncher", "FunctionLauncher", "ExperimentLauncher"):
        monkeypatch.setattr(getattr(launchers, name), "check", refuse)
    yield seen


def quadratic(tmp_path: Path) -> Path:
    data = yaml.safe_load((DATA / "experiments" / "quadratic.yaml").read_text())
    path = tmp_path / "quadratic.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_cli_checks_through_the_session(sessions: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    state = tmp_path / "state"
    try:
        code = main(["--state-dir", str(state), "tune", str(quadratic(tmp_path))])
    except SystemExit as exc:  # either way of ending is the CLI's to choose
        code = exc.code
    assert code == 2
    assert MARKER in capsys.readouterr().err
    assert sessions == ["ExperimentLauncher"]
    assert not (state / "runs").exists() or not any((state / "runs").iterdir())


def test_the_python_api_checks_through_the_session(sessions: list[str], tmp_path: Path) -> None:
    space = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}]
    calls: list[Any] = []
    with pytest.raises(SpecError, match=MARKER):
        pipetune.tune(lambda p: calls.append(p) or p["x"], space, max_trials=2,
                      directory=tmp_path / "fn", state_dir=tmp_path / "state")
    assert calls == []
    component = ROOT / "components" / "train-sklearn" / "component.yaml"
    with pytest.raises(SpecError, match=MARKER):
        pipetune.tune(component, [{"name": "n_estimators", "parameterType": "int",
                                   "feasibleSpace": {"min": "10", "max": "20"}}],
                      metric="accuracy", max_trials=2, directory=tmp_path / "c", state_dir=tmp_path / "state")
    assert sessions == ["FunctionLauncher", "ComponentLauncher"]


def test_the_tune_component_checks_through_the_session(sessions: list[str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PIPETUNE_OUTPUTS", str(tmp_path / "outputs"))
    with pytest.raises(SystemExit) as ended:
        tune.main(["--experiment", quadratic(tmp_path).read_text(), "--engine", "local"])
    assert ended.value.code == 2
    assert MARKER in capsys.readouterr().err
    assert sessions == ["ExperimentLauncher"]
    assert not (tmp_path / "outputs" / "experiment").exists()


def test_the_controller_checks_through_the_session(sessions: list[str], cluster, namespace,  # noqa: F811
                                                   start_controller) -> None:  # noqa: F811
    start_controller()
    cluster.create(EXPERIMENTS, {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                 "metadata": {"name": "probe", "namespace": namespace}, "spec": experiment_spec()})
    done = wait_status(cluster, EXPERIMENTS, namespace, "probe",
                       lambda obj: any(c["type"] == "Failed" and c["status"] == "True"
                                       for c in (obj.get("status") or {}).get("conditions") or []))
    failed = next(c for c in done["status"]["conditions"] if c["type"] == "Failed")
    assert MARKER in failed["message"]
    assert set(sessions) == {"ExperimentLauncher"}
    assert cluster.objects(TASKRUNS, namespace) == []


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
