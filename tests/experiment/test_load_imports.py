"""Loading an Experiment stays light: checking a trial template's success and failure
conditions needs pipetune.kinds, never the Kubernetes client, the bridges or Tekton.

Run in a fresh interpreter, since this one has imported everything the other tests use.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

#: What a condition check once dragged in (about 42 modules), and must not again.
HEAVY = ("kubernetes", "pipetune.bridges", "pipetune.tekton", "pipetune.engines.kubernetes")

EXPERIMENT = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: conditions
spec:
  objective:
    type: maximize
    objectiveMetricName: accuracy
  parameters:
    - name: lr
      parameterType: double
      feasibleSpace: {min: "0.01", max: "0.1"}
  trialTemplate:
    primaryContainerName: training-container
    successCondition: status.conditions.#(type=="Complete")#|#(status=="True")#
    failureCondition: status.conditions.#(type=="Failed")#|#(status=="True")#
    trialParameters:
      - name: learningRate
        reference: lr
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: training-container
                image: python:3.11
                command: ["python", "train.py", "--lr=${trialParameters.learningRate}"]
            restartPolicy: Never
"""

PROBE = """\
import json, sys
from pipetune.experiment import load_experiment
experiment = load_experiment(sys.argv[1])
template = experiment.trial_template
print(json.dumps({
    "success": template.success_condition,
    "failure": template.failure_condition,
    "checked": "pipetune.kinds" in sys.modules,
    "heavy": sorted(m for m in sys.modules for h in sys.argv[2:] if m == h or m.startswith(h + ".")),
}))
"""


def test_loading_conditions_imports_no_cluster_code(tmp_path: Path) -> None:
    path = tmp_path / "conditions.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), *HEAVY], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    # The conditions were read and compiled, so the check below is about a real load.
    assert found["success"] == 'status.conditions.#(type=="Complete")#|#(status=="True")#'
    assert found["failure"] == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    assert found["checked"]
    assert found["heavy"] == []
