"""The cluster dashboard at 2,000 trials: what `pipetune ui --engine kubernetes` costs to show
an experiment the controller ran, beside the local dashboard (`pipetune ui`) on the same trials.

    python bench/ui_cluster.py                   # 2,000 trials, 5 rounds (about a minute on 2 cores)
    python bench/ui_cluster.py --trials 500 --rounds 3

The same journal is written twice: as a local experiment (the run store, the journal file,
each trial's results and logs, as the tuner leaves them) and into a tuning CustomRun's
``status.extraFields`` on the tests' Kubernetes API emulator (tests/kube/emulator.py), as the
controller leaves it (compressed segments of 64 records), with one pod per trial whose log
holds three ``pipetune.report`` lines. Each round builds a fresh source (nothing cached) and
times, through the dashboard's API in this process (``Api.handle``, no HTTP):

- **first plot**: the experiments list, then the experiment with its trials and figures: what
  the experiment page waits for before it draws its first plot;
- **poll**: the same experiment asked again once the cluster is to be read again (``ttl``
  passed) and nothing changed: what each open page costs every poll;
- **curves**: the intermediate values, asked until every trial's curve is there (locally: one
  call reading each results.yaml; on the cluster: pod logs, at most ``MAX_CURVE_READS`` a
  call, so calls are counted too; with ``--published``, the TaskRuns' published results).

Requests are the dashboard's own to the emulator, by verb and resource. Medians over rounds;
figures to stdout and ``bench/out/ui_cluster.json``. The emulator is a loopback server in this
process, so cluster timings leave out a real API server's latency (tens of ms a request): read
them with the request counts. Katib's UI, the peer on a cluster, can't run here.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from kube.emulator import EmulatedCluster  # noqa: E402
from kube.journal import archived_journal  # noqa: E402
from pipetune.store import RunStore  # noqa: E402
from pipetune.tracking import LocalSource, Source  # noqa: E402
from pipetune.ui import Api, ClusterSource  # noqa: E402
from pipetune.ui._cluster import MAX_CURVE_READS, TTL_SECONDS  # noqa: E402
from ui.stores import FakeExperiment  # noqa: E402

NAMESPACE = "bench"
CUSTOMRUNS = "tekton.dev/v1beta1/customruns"


def get(api: Api, path: str) -> dict[str, Any]:
    reply = api.handle([p for p in path.split("/") if p], {})
    if reply.status != 200:
        raise SystemExit(f"{path}: {reply.status} {reply.body[:300]!r}")
    return json.loads(reply.body)


def local_experiment(folder: Path, trials: int) -> FakeExperiment:
    rng = random.Random(1)
    store = RunStore(folder)
    experiment = FakeExperiment(store, "bench", folder / "experiments" / "bench")
    for index in range(trials):
        experiment.add(rng.random(), rng.random(), rng.choice("abc"), status="Failed" if index % 17 == 0 else "Succeeded")
    experiment.finish()
    store.close()
    return experiment


def cluster_experiment(cluster: EmulatedCluster, experiment: FakeExperiment, published: bool) -> None:
    """The CustomRun, and a pod per trial with its log; with ``published``, its trials are
    component trials (TaskRuns) whose ``results`` result holds the history too."""
    lines = (experiment.directory / "journal.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    cluster.create("v1/namespaces", {"metadata": {"name": NAMESPACE}})
    state: dict[str, Any] = archived_journal(cluster, NAMESPACE, "CustomRun", "bench", records)
    if published:
        state["experiment"] = {"trialTemplate": {"trialSpec": {"component": "train-sklearn"}}}
    cluster.create(CUSTOMRUNS, {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun",
                                "metadata": {"name": "bench", "namespace": NAMESPACE},
                                "spec": {"customRef": {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                                       "name": "bench"}}})
    cluster.patch_status(CUSTOMRUNS, NAMESPACE, "bench", {
        "startTime": "2026-12-04T10:00:00Z", "completionTime": "2026-12-04T11:00:00Z",
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "done"}],
        "extraFields": state})
    for index in range(experiment.trials):
        name = f"bench-{index:04d}"
        cluster.seed("v1/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"{name}-pod", "namespace": NAMESPACE,
            "labels": {"pipetune.dev/experiment": "bench", "pipetune.dev/trial": name}},
            "spec": {"containers": [{"name": "step-main", "image": "x"}]}}, namespace=NAMESPACE)
        history = [{"step": s, "loss": 1.0 / (s + index)} for s in (1, 2, 3)]
        cluster.set_log(NAMESPACE, f"{name}-pod", "step-main", "".join(
            f"pipetune.report {json.dumps(entry)}\n" for entry in history))
        if published:
            text = yaml.safe_dump({"apiVersion": "pipetune.dev/v1", "metrics": {"loss": history[-1]["loss"]},
                                   "history": history})
            cluster.seed("tekton.dev/v1/taskruns", {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {
                "name": name, "namespace": NAMESPACE,
                "labels": {"pipetune.dev/experiment": "bench", "pipetune.dev/trial": name}},
                "spec": {"taskRef": {"name": "train-sklearn"}},
                "status": {"results": [{"name": "results", "type": "string", "value": text}]}}, namespace=NAMESPACE)


def measure(make: Any, experiment_id: str, trials: int, cluster: EmulatedCluster | None) -> dict[str, Any]:
    source: Source = make()
    api = Api(source)
    if cluster is not None:
        cluster.emulator.reset_requests()
    start = time.perf_counter()
    get(api, "/api/experiments")
    data = get(api, f"/api/experiments/{experiment_id}")
    first = time.perf_counter() - start
    if len(data["trials"]) != trials or "figures" not in data:
        raise SystemExit(f"{experiment_id}: {len(data['trials'])} trials answered, {trials} expected")
    first_requests = dict(cluster.emulator.requests()) if cluster is not None else {}
    if isinstance(source, ClusterSource):
        source.ttl = 0.0  # this poll reads the cluster again
        cluster.emulator.reset_requests()  # type: ignore[union-attr]
    start = time.perf_counter()
    get(api, f"/api/experiments/{experiment_id}")
    poll = time.perf_counter() - start
    poll_requests = dict(cluster.emulator.requests()) if cluster is not None else {}
    if isinstance(source, ClusterSource):
        source.ttl = TTL_SECONDS
        cluster.emulator.reset_requests()  # type: ignore[union-attr]
    scored = sum(1 for t in data["trials"] if t["status"] != "Failed")
    calls, start = 0, time.perf_counter()
    while True:
        calls += 1
        curves = get(api, f"/api/experiments/{experiment_id}/intermediate")["curves"]
        if len(curves) >= scored or calls > trials:
            break
    curve_time = time.perf_counter() - start
    if len(curves) < scored:
        raise SystemExit(f"{experiment_id}: {len(curves)} curves after {calls} calls, {scored} expected")
    curve_requests = dict(cluster.emulator.requests()) if cluster is not None else {}
    if isinstance(source, ClusterSource):
        source.close()
    return {"first": first, "poll": poll, "curves": curve_time, "curve_calls": calls,
            "first_requests": first_requests, "poll_requests": poll_requests, "curve_requests": curve_requests}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds the emulator waits before answering each of the dashboard's requests, "
                        "standing in for a real API server's round trip (default 0.02)")
    parser.add_argument("--published", action="store_true",
                        help="the trials are TaskRuns that published their history with their results "
                        "(the controller's component trials); default: only their pods' logs hold it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, EmulatedCluster() as cluster:
        experiment = local_experiment(Path(scratch) / "state", args.trials)
        cluster_experiment(cluster, experiment, args.published)
        if args.latency:
            cluster.emulator.slow("*", "*", args.latency)
        rows: dict[str, list[dict[str, Any]]] = {"local": [], "cluster": []}
        for _ in range(args.rounds):
            rows["local"].append(measure(lambda: LocalSource(Path(scratch) / "state"), experiment.run_id,
                                         args.trials, None))
            rows["cluster"].append(measure(lambda: ClusterSource(cluster.api_client(), NAMESPACE),
                                           "customrun.bench", args.trials, cluster))
    summary: dict[str, Any] = {"trials": args.trials, "rounds": args.rounds, "latency": args.latency,
                               "published": args.published,
                               "max_curve_reads": MAX_CURVE_READS}
    print(f"{args.trials} trials, {args.rounds} rounds (medians), {args.latency * 1000:g} ms a request, curves from "
          + ("published TaskRun results" if args.published else "pod logs"))
    print(f"{'source':8} {'first plot':>11} {'poll':>9} {'all curves':>11} {'calls':>6}  "
          "requests (first plot / poll / all curves)")
    for name, found in rows.items():
        med = {k: statistics.median(r[k] for r in found) for k in ("first", "poll", "curves", "curve_calls")}
        first_requests = Counter(found[-1]["first_requests"])
        poll_requests = Counter(found[-1]["poll_requests"])
        curve_requests = Counter(found[-1]["curve_requests"])
        summary[name] = {**med, "first_requests": {f"{v} {r}": n for (v, r), n in first_requests.items()},
                         "poll_requests": {f"{v} {r}": n for (v, r), n in poll_requests.items()},
                         "curve_requests": {f"{v} {r}": n for (v, r), n in curve_requests.items()},
                         "rounds": found and [{k: r[k] for k in ("first", "poll", "curves")} for r in found]}
        shown = lambda c: ", ".join(f"{n} {v} {r}" for (v, r), n in sorted(c.items())) or "-"  # noqa: E731
        print(f"{name:8} {med['first'] * 1000:9.0f}ms {med['poll'] * 1000:7.1f}ms {med['curves']:10.2f}s "
              f"{med['curve_calls']:6.0f}  {shown(first_requests)} / {shown(poll_requests)} / {shown(curve_requests)}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"ui_cluster{'-published' if args.published else ''}.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
