"""API requests per trial and the tuner's overhead per trial on the Kubernetes engine.

Runs experiments of N no-op Job trials (component trials, so each becomes a batch/v1 Job)
against the HTTP Kubernetes API emulator of the tests (tests/kube/), whose scripted operator
finishes each Job after a fixed delay, and counts every request pipetune makes, by verb and
resource. Two sizes at the same parallelism show whether requests per trial stay constant;
the request rate while 20 trials run shows that no request is made per running trial.

    python bench/kubernetes_requests.py [--trials 100] [--parallel 20] [--repeats 3]

Needs the test extras (kmock). Timings are of a loopback emulator in this process: they show
the tuner's own cost per trial, not a cluster's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kube.emulator import EmulatedCluster  # noqa: E402
from kube.operator import FakeOperator, Outcome  # noqa: E402
from pipetune.engines.kubernetes import KubernetesEngine  # noqa: E402
from pipetune.experiment import experiment_from_dict  # noqa: E402
from pipetune.kinds import EXPERIMENT_LABEL  # noqa: E402
from pipetune.store import RunStore  # noqa: E402
from pipetune.tuner.config import tuner_config  # noqa: E402
from pipetune.tuner.launchers import ExperimentLauncher  # noqa: E402
from pipetune.tuner.loop import Tuner  # noqa: E402

DELAY = 0.05  # seconds between the operator's lifecycle steps (3 steps: ~0.15 s a Job)
RESULTS = "apiVersion: pipetune.dev/v1\nmetrics:\n  loss: {loss}\n"


def experiment(trials: int, parallel: int) -> dict:
    return {
        "apiVersion": "pipetune.dev/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": f"bench-{trials}", "namespace": "bench"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "maxTrialCount": trials,
            "parallelTrialCount": parallel,
            "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
            "trialTemplate": {
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": {
                    "apiVersion": "batch/v1", "kind": "Job",
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                        {"name": "main", "image": "noop:1", "command": ["true", "${trialParameters.x}"]}]}}},
                },
            },
        },
    }


def outcome(resource: dict) -> Outcome:
    x = float(resource["spec"]["template"]["spec"]["containers"][0]["command"][1])
    return Outcome(termination_message=RESULTS.format(loss=round((x - 0.3) ** 2, 6)), delay=DELAY)


def run_once(trials: int, parallel: int) -> dict:
    with EmulatedCluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        cluster.operator = FakeOperator(cluster, outcome).start()
        exp = experiment_from_dict(experiment(trials, parallel), Path(tmp) / "exp.yaml")
        engine = KubernetesEngine(cluster.api_client(), "bench", labels={EXPERIMENT_LABEL: exp.name})
        samples: list[int] = []
        tuner = Tuner(tuner_config(exp), ExperimentLauncher(exp, local=False, namespace="bench"), engine,
                      RunStore(Path(tmp) / "state"), Path(tmp) / "exp", poll_interval=0.25)
        started = time.perf_counter()
        import threading

        done = threading.Event()

        def sample() -> None:
            # Requests made in each 0.5 s window while the tuner runs.
            last = sum(cluster.emulator.requests().values())
            while not done.wait(0.5):
                now = sum(cluster.emulator.requests().values())
                samples.append(now - last)
                last = now

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = tuner.run()
        wall = time.perf_counter() - started
        done.set()
        engine.close()
        counts = cluster.emulator.requests()
        assert result.state.status == "Succeeded", result.state.message
        bad = [(t.index, t.status.value, t.message) for t in result.trials if t.status.value != "Succeeded"]
        assert not bad, bad[:3]
    return {"wall": wall, "counts": counts, "rates": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted({args.trials // 2, args.trials})
    rows = []
    for trials in sizes:
        runs = [run_once(trials, args.parallel) for _ in range(args.repeats)]
        walls = [r["wall"] for r in runs]
        counts = runs[0]["counts"]
        floor = trials / args.parallel * 3 * DELAY  # the operator's own time, perfectly packed
        rates = [x / 0.5 for r in runs for x in r["rates"]]
        rows.append((trials, statistics.median(walls), floor, counts, rates))
        print(f"{trials} trials x{args.repeats}: wall median {statistics.median(walls):.2f}s", file=sys.stderr)
    print(f"\nrequests per trial by verb and resource (parallel {args.parallel}, first repeat)")
    keys = sorted({k for row in rows for k in row[3]})
    print(f"{'verb resource':28}" + "".join(f"{t:>10} trials" for t, *_ in rows))
    for key in keys:
        print(f"{key[0] + ' ' + key[1]:28}" + "".join(f"{row[3][key] / row[0]:>17.3f}" for row in rows))
    total = [sum(row[3].values()) / row[0] for row in rows]
    print(f"{'all':28}" + "".join(f"{x:>17.3f}" for x in total))
    print("\nwall time (median of repeats) and the tuner's overhead per trial")
    for trials, wall, floor, _, rates in rows:
        print(f"  {trials} trials: {wall:.2f}s; operator floor {floor:.2f}s; "
              f"overhead {(wall - floor) / trials * 1000:.1f} ms/trial; "
              f"requests/s while running: median {statistics.median(rates):.1f}, max {max(rates):.1f}")


if __name__ == "__main__":
    main()
