"""Every Katib example Experiment that loads, its first trial run on the Kubernetes engine
exactly as its trial template describes it (skipped without ../shared/fixtures); a File
collector's trial through pipetune's collector container, its part played by the real
collector code over the metrics file the trial would write."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiment.test_katib_fixtures import FIXTURES, REFUSED, first_assignment
from kube.emulator import EmulatedCluster
from kube.kubelet import collect_once, collector_container, here
from kube.operator import Outcome
from pipetune.contract import LogMetrics
from pipetune.engines.base import Phase, RunRequest
from pipetune.engines.kubernetes import KubernetesEngine, Retry
from pipetune.errors import SpecError
from pipetune.experiment import load_experiment
from pipetune.kinds import COLLECTOR_CONTAINER, EXPERIMENT_LABEL, TRIAL_LABEL, default_plural, known_kind
from pipetune.tuner.launchers import ExperimentLauncher

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="no ../shared/fixtures/katib-v1beta1 here")
FILES = sorted(FIXTURES.glob("*.yaml")) if FIXTURES.is_dir() else []
NS = "katib"
#: Kinds the scripted operator finishes, and whose primary pod it labels as the template asks.
RESULTS_EXPECTED = {"Job", "PyTorchJob", "XGBoostJob", "TrainJob"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_first_trial_runs_on_the_cluster_as_its_template_says(path: Path, cluster: EmulatedCluster,
                                                              tmp_path: Path) -> None:
    if path.stem in REFUSED:
        pytest.skip("refused at load")
    experiment = load_experiment(path)
    launcher = ExperimentLauncher(experiment, local=False, namespace=NS)
    assignment = first_assignment(experiment)
    if experiment.metrics_collector.cluster_error:
        with pytest.raises(SpecError, match="is not supported on the Kubernetes engine"):
            launcher.prepare(0, assignment, Path("/x"))
        return
    prepared = launcher.prepare(0, assignment, Path("/x"))
    manifest = prepared.resource.manifest
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    known = known_kind(api_version, kind)
    plural = known.plural if known else default_plural(kind)
    resource = f"{api_version}/{plural}"
    cluster.declare(resource, kind)  # as its CRD would be installed (a no-op for known ones)
    namespace = manifest["metadata"]["namespace"]  # the experiment's, as Katib creates trials
    metric = experiment.objective.metric
    # Lines in the collector's own format: Katib's name=value, or the fixture's metricsFormat.
    line = "{} : {}" if experiment.metrics_collector.filters else "{}={}"
    logs = "\n".join(["epoch 1", line.format(metric, 0.25), line.format(metric, 0.5)]) + "\n"
    outcome = Outcome(logs=logs)
    collector = experiment.metrics_collector
    if collector.kind in ("File", "TensorFlowEvent"):
        assert collector_container(manifest)["args"][0] == "collect"
    if collector.kind == "File" and kind in RESULTS_EXPECTED:
        # The trial wrote the lines to its metrics file; pipetune's collector container read
        # it (run here on a copy: kube/kubelet.py) and printed and wrote what the engine reads.
        assert collector.path
        metrics_file = here(collector.path, tmp_path)
        metrics_file.parent.mkdir(parents=True)
        if collector.format == "JSON":
            metrics_file.write_text(f'{{"{metric}": "0.25"}}\n{{"{metric}": "0.5"}}\n')
        elif any("metricName" in f for f in collector.filters):  # pytorch-mnist's own line
            metrics_file.write_text("".join(f"{{metricName: {metric}, metricValue: {v}}}\n" for v in (0.25, 0.5)))
        else:
            metrics_file.write_text(logs)
        printed, message = collect_once(collector_container(manifest), tmp_path)
        outcome = Outcome(logs=printed, termination_message=message, container=COLLECTOR_CONTAINER)
    cluster.operator.outcome = lambda obj: outcome
    engine = KubernetesEngine(cluster.api_client(), namespace, labels={EXPERIMENT_LABEL: experiment.name},
                              retry=Retry(tries=3, base=0.01))
    try:
        run = RunRequest(run_id="r0", component=prepared.component, arguments={}, outputs_dir=Path("/x"),
                         log_metrics=prepared.log_metrics or LogMetrics(names=(metric,)),
                         resource=prepared.resource, name=prepared.name, echo=False)
        handle = engine.submit(run)
        assert engine.poll(handle).phase is Phase.RUNNING, engine.poll(handle).message
        stored = cluster.get(resource, namespace, prepared.name)
        assert stored is not None and stored["kind"] == kind
        assert stored["metadata"]["labels"][TRIAL_LABEL] == prepared.name
        assert stored["metadata"]["labels"][EXPERIMENT_LABEL] == experiment.name
        if kind not in RESULTS_EXPECTED:
            return
        status = engine.wait(handle, 20)
        assert status.phase is Phase.SUCCEEDED, status
        results = engine.results(handle)
        assert results is not None and results.metrics[metric] == 0.5
    finally:
        engine.close()
