"""What importing the tuner costs: a tuner, the Python API or a component process must not
load the Kubernetes client, the cluster layers, kfp, kopf or hyperopt's plotting stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("kubernetes", "kopf", "kfp", "matplotlib", "hyperopt.plotting",
         "pipetune.engines.kubernetes", "pipetune.bridges", "pipetune.tekton", "pipetune.controller")


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("module", ["pipetune.tuner", "pipetune.tuner.session", "pipetune.tuner.loop", "pipetune.api"])
def test_importing_the_tuner_loads_no_cluster_or_plotting_code(module: str) -> None:
    assert loaded_after(f"import {module}") == []


def test_a_tpe_suggestion_loads_no_plotting_stack() -> None:
    code = (
        "from pipetune.tuner.algorithms import get_algorithm\n"
        "from pipetune.tuner.space import SearchSpace\n"
        "space = SearchSpace.from_katib([{'name': 'x', 'parameterType': 'double',"
        " 'feasibleSpace': {'min': '0', 'max': '1'}}])\n"
        "get_algorithm('tpe').suggest(space, [], 0)\n"
    )
    assert loaded_after(code) == []


@pytest.mark.parametrize("module", ["pipetune.pipeline", "pipetune.cli._tune", "pipetune.cli._pipeline",
                                    "pipetune.engines.select"])
def test_local_runs_load_no_kubernetes_client(module: str) -> None:
    """`pipetune tune` and `pipetune pipeline run` on a laptop loaded the Kubernetes client
    (some 0.3 s, and kopf's operator code) through the engine selection and the controller
    package."""
    loaded = loaded_after(f"import {module}")
    assert [m for m in loaded if m.split(".")[0] in ("kubernetes", "kopf") or m.startswith(
        ("pipetune.engines.kubernetes", "pipetune.controller._reconcile", "pipetune.controller._operator"))] == []
