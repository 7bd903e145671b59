"""What using the algorithms costs at import: hyperopt's ATPE (which loads scipy.stats, about a
second) stays unloaded when a user imports pipetune and then hyperopt, and the Katib
algorithms' libraries load only when the algorithm is used."""

from __future__ import annotations

import subprocess
import sys


def loaded(code: str, *modules: str) -> dict[str, bool]:
    probe = f"{code}\nimport sys\nprint(' '.join(str(m in sys.modules) for m in {modules!r}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return dict(zip(modules, (word == "True" for word in out.stdout.split())))


def test_import_pipetune_then_hyperopt_leaves_scipy_stats_unloaded() -> None:
    code = "import pipetune\nfrom hyperopt import hp\nspace = {'x': hp.uniform('x', 0, 1)}"
    assert loaded(code, "hyperopt", "scipy.stats") == {"hyperopt": True, "scipy.stats": False}


def test_hyperopt_atpe_still_loads_for_whoever_asks_for_it() -> None:
    code = "import pipetune\nimport hyperopt.atpe\nhyperopt.atpe.suggest"
    assert loaded(code, "scipy.stats") == {"scipy.stats": True}


def test_the_default_loads_neither_skopt_nor_cmaes_nor_scipy_stats() -> None:
    code = (
        "from pipetune.tuner.algorithms import get_algorithm\n"
        "from pipetune.tuner.space import SearchSpace\n"
        "space = SearchSpace.from_katib([{'name': 'x', 'parameterType': 'double',"
        " 'feasibleSpace': {'min': '0', 'max': '1'}}])\n"
        "get_algorithm('auto').suggest(space, [], 0)\n"
    )
    assert loaded(code, "skopt", "cmaes", "scipy.stats") == {"skopt": False, "cmaes": False, "scipy.stats": False}


def test_tune_with_the_default_over_katib_parameters_loads_no_scipy() -> None:
    """hyperopt's TPE module (scipy.special, a quarter of a tuning process's memory) is
    loaded only for what uses it: the default's model over Katib parameters is Optuna's."""
    code = (
        "import tempfile\nimport pipetune\n"
        "space = [{'name': 'x', 'parameterType': 'double', 'feasibleSpace': {'min': '0', 'max': '1'}}]\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    result = pipetune.tune(lambda p: p['x'], space, max_trials=14, state_dir=d)\n"
        "assert len(result.trials) == 14\n"
    )
    assert loaded(code, "hyperopt", "optuna", "scipy") == {"hyperopt": True, "optuna": True, "scipy": False}


def test_hyperopt_tpe_still_loads_for_whoever_asks_for_it_once() -> None:
    code = (
        "import pipetune\nfrom hyperopt import tpe\nimport hyperopt\n"
        "first = tpe.suggest\nassert hyperopt.tpe.suggest is first and tpe.suggest is first\n"
        "assert sys.modules['hyperopt.tpe'].suggest is first\n"
        "from hyperopt import fmin, hp\n"
        "best = fmin(lambda x: x ** 2, hp.uniform('x', -1, 1), algo=tpe.suggest, max_evals=5,"
        " show_progressbar=False, rstate=__import__('numpy').random.default_rng(0))\n"
    )
    assert loaded("import sys\n" + code, "scipy.special") == {"scipy.special": True}
