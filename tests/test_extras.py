"""A missing optional extra is one line naming what to install, not `No module named 'torch'`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

# Makes the named packages look uninstalled to the process that loads it (site imports it).
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def _without(tmp_path: Path, *modules: str) -> dict[str, str]:
    folder = tmp_path / "block"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCK.format(blocked=set(modules)))
    path = os.pathsep.join([str(folder), str(ROOT / "plugin"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PIPETUNE_OUTPUTS": str(tmp_path / "outputs")}


@pytest.mark.parametrize(
    ("argv", "blocked", "line"),
    [
        (["-m", "pipetune.catalog.train_torch"], "torch",
         "error: train-torch needs PyTorch, which is not installed: pip install 'pipetune[torch]'"),
        (["-m", "pipetune.catalog.train_sklearn"], "sklearn",
         "error: train-sklearn needs scikit-learn, which is not installed: pip install 'pipetune[sklearn]'"),
        ([str(ROOT / "pipelines" / "kfp" / "train.py")], "kfp",
         "error: pipelines/kfp needs the KFP SDK, which is not installed: pip install 'pipetune[kfp]'"),
    ],
)
def test_a_missing_extra_names_the_extra(tmp_path: Path, argv: list[str], blocked: str, line: str) -> None:
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env=_without(tmp_path, blocked))
    assert result.returncode == 2
    assert result.stderr.strip() == line
