"""`pipetune ui --engine kubernetes`: the dashboard over a namespace of the emulated cluster
(tests/kube), where pipetune's real controller has run a tuning CustomRun to its end and left
a standalone Experiment running (one trial hangs), with the scripted operator playing Tekton.
The dashboard's answers are the same JSON as locally; it only reads, and it reads only what
manifests/dashboard-rbac.yaml grants (compared both ways)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT
from controller.conftest import (  # noqa: F401 - fixtures
    CUSTOMRUNS,
    EXPERIMENTS,
    TASKRUNS,
    RunningController,
    accuracy,
    api_client,
    cluster,
    customrun,
    experiment_spec,
    finished,
    namespace,
    params_of,
    start_controller,
    train_outcome,
    wait_status,
)
from kube.conftest import write_kubeconfig
from kube.emulator import EmulatedCluster
from kube.operator import Outcome
from pipetune.controller import Layout
from pipetune.ui import ClusterSource, make_server

#: The API group of each resource the dashboard may read, by plural.
GROUPS = {"customruns": "tekton.dev", "taskruns": "tekton.dev", "experiments": "pipetune.dev", "pods": "",
          "configmaps": ""}


def curve(score: float) -> list[tuple[int, float]]:
    """The intermediate values a trial's log reports: rising to its final score."""
    return [(1, round(score - 0.2, 6)), (2, round(score - 0.1, 6)), (3, score)]


def publishes_history(name: str) -> bool:
    """Whether a trial's Task publishes its history in its results result (even trials), or
    only in its log (odd ones): the dashboard reads the first, else the second."""
    return int(name.rsplit("-", 1)[1]) % 2 == 0


def artifacts_of(name: str, store: Path) -> dict[str, str]:
    """What an even trial's results name: a file and a folder in ``store`` (file://, as any
    fsspec store), a path inside its pod, and a URI of a scheme no filesystem here reads."""
    return {"model": (store / name / "model.pkl").as_uri(), "report": (store / name / "report").as_uri() + "/",
            "in-pod": "metrics.csv", "offsite": "nosuchfs://bucket/" + name,
            "metadata": "http://169.254.169.254/latest/meta-data/",
            "host": (store.parent / f"{store.name}-host" / "token").as_uri()}


def outcome_for(hang: set[str], store: Path) -> Callable[[dict[str, Any]], Outcome]:
    """Tekton running train-sklearn: its results result (with the history and the artifacts
    of ``artifacts_of`` for even trials, written into ``store`` as its component would) and a
    log of ``pipetune.report`` lines; the live experiment's third trial hangs (Running until
    the test ends)."""
    live_seen: list[str] = []

    def outcome(taskrun: dict[str, Any]) -> Outcome:
        name = taskrun["metadata"]["name"]
        if name.startswith("live-") and name not in live_seen:
            live_seen.append(name)
            if len(live_seen) == 3:
                hang.add(name)
        params = params_of(taskrun)
        score = accuracy(int(params["n_estimators"]), int(params["max_depth"]))
        logs = "".join(f'pipetune.report {json.dumps({"step": s, "accuracy": v})}\n' for s, v in curve(score))
        results = dict(train_outcome(taskrun).results)
        if publishes_history(name):
            (store / name / "report").mkdir(parents=True, exist_ok=True)
            (store / name / "model.pkl").write_bytes(b"model of " + name.encode())
            (store / name / "report" / "index.txt").write_text(f"report of {name}\n")
            results["results"] = yaml.safe_dump({"apiVersion": "pipetune.dev/v1", "metrics": {"accuracy": score},
                                                 "history": [{"step": s, "accuracy": v} for s, v in curve(score)],
                                                 "outputs": {"trees": int(params["n_estimators"])},
                                                 "artifacts": artifacts_of(name, store)})
        return Outcome(results=results, logs=logs, hang=name in hang)

    return outcome


@dataclass
class Served:
    url: str
    namespace: str
    cluster: EmulatedCluster
    controller: RunningController
    hanging: set[str]
    store: Path

    def request(self, path: str, method: str = "GET") -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, method=method, data=b"{}" if method != "GET" else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> tuple[int, Any]:
        status, body = self.request(path)
        return status, json.loads(body)


@pytest.fixture
def served(cluster: EmulatedCluster, namespace: str, start_controller: Callable[..., RunningController],  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    hanging: set[str] = set()
    store = tmp_path_factory.mktemp("artifact-store")
    cluster.operator.outcome = outcome_for(hanging, store)
    # Segments of 4 records: both experiments' older records are archived in ConfigMaps, which
    # the dashboard reads back.
    controller = start_controller(journal_layout=Layout(segment=4))
    cluster.create(CUSTOMRUNS, customrun("tune", namespace))
    cluster.create(EXPERIMENTS, {"apiVersion": "pipetune.dev/v1alpha1", "kind": "Experiment",
                                 "metadata": {"name": "live", "namespace": namespace},
                                 "spec": experiment_spec(maxTrialCount=4, parallelTrialCount=1)})
    wait_status(cluster, CUSTOMRUNS, namespace, "tune", finished)
    wait_status(cluster, EXPERIMENTS, namespace, "live",
                lambda o: (o.get("status") or {}).get("trialsRunning") == 1
                and (o.get("status") or {}).get("trialsSucceeded") == 2)
    source = ClusterSource(cluster.api_client(), namespace, ttl=0.0, artifact_roots=[store])
    server = make_server(source, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_address[1]}", namespace, cluster, controller, hanging, store)
    finally:
        server.shutdown()
        server.server_close()
        source.close()


def taskrun_scores(cluster: EmulatedCluster, namespace: str, prefix: str) -> dict[str, float]:
    return {t["metadata"]["name"]: accuracy(int(params_of(t)["n_estimators"]), int(params_of(t)["max_depth"]))
            for t in cluster.objects(TASKRUNS, namespace) if t["metadata"]["name"].startswith(prefix)}


def test_the_clusters_experiments_show_with_their_status_progress_and_best(served: Served) -> None:
    status, data = served.json("/api/experiments")
    assert status == 200
    by_id = {x["id"]: x for x in data["experiments"]}
    assert set(by_id) == {"customrun.tune", "experiment.live"}
    tune, live = by_id["customrun.tune"], by_id["experiment.live"]
    scores = taskrun_scores(served.cluster, served.namespace, "tune-")
    best_name = max(scores, key=lambda n: scores[n])
    assert tune["status"] == "Succeeded" and tune["trials"] == 6 and tune["done"] == 6
    assert tune["metric"] == "accuracy" and tune["minimize"] is False and tune["algorithm"] == "auto"
    assert tune["best"]["objective"] == pytest.approx(scores[best_name]) and tune["best"]["run_id"] == best_name
    # The best the CustomRun publishes as its result is the one shown.
    results = {r["name"]: r["value"] for r in served.cluster.get(CUSTOMRUNS, served.namespace, "tune")["status"]["results"]}
    assert float(results["best-objective"]) == pytest.approx(tune["best"]["objective"])
    assert tune["resource"] == f"CustomRun {served.namespace}/tune" and tune["started"] > 0 and tune["duration"] >= 0
    assert live["status"] == "Running" and live["done"] == 2 and live["counts"]["Running"] == 1
    assert live["resource"] == f"Experiment {served.namespace}/live"

    status, state = served.json("/api/state")
    assert state["engine"] == "kubernetes" and served.namespace in state["where"] and state["runs"] == 6 + 3 + 2


def test_an_experiment_has_its_trials_as_their_resources_and_every_view(served: Served) -> None:
    status, data = served.json("/api/experiments/customrun.tune")
    assert status == 200
    scores = taskrun_scores(served.cluster, served.namespace, "tune-")
    trials = data["trials"]
    assert len(trials) == 6 and all(t["status"] == "Succeeded" for t in trials)
    # Each trial links to the TaskRun it ran as, with that TaskRun's parameters and score.
    assert {t["run_id"] for t in trials} == set(scores)
    for trial in trials:
        assert trial["objective"] == pytest.approx(scores[trial["run_id"]])
        taskrun = served.cluster.get(TASKRUNS, served.namespace, trial["run_id"])
        assert {k: str(v) for k, v in trial["parameters"].items()} == {
            k: v for k, v in params_of(taskrun).items() if k in ("n_estimators", "max_depth")}
        assert trial["started"] is not None and trial["duration"] >= 0
    assert set(data["figures"]) == {"history", "importance", "slice", "parallel", "contour"}
    points = sum(len(t["x"]) for t in data["figures"]["history"]["data"] if t["uid"].startswith("history-Succeeded"))
    assert points == 6

    # The intermediate values: the history a trial's TaskRun published, else its
    # pipetune.report lines read from its pod's log (one log read per trial that published none).
    served.cluster.emulator.reset_requests()
    status, more = served.json("/api/experiments/customrun.tune/intermediate")
    assert status == 200
    by_index = {t["index"]: t["run_id"] for t in trials}
    assert {int(k): [tuple(p) for p in v] for k, v in more["curves"].items()} == {
        i: [(float(s), v) for s, v in curve(scores[name])] for i, name in by_index.items()}
    reads = served.cluster.emulator.requests()
    assert reads[("get", "pods/log")] == sum(not publishes_history(n) for n in scores) == 3
    assert reads[("list", "taskruns")] == 1 and reads[("list", "pods")] == 1
    # Finished trials' curves are read once: asking again reads no log.
    served.cluster.emulator.reset_requests()
    assert served.json("/api/experiments/customrun.tune/intermediate")[1]["curves"] == more["curves"]
    assert served.cluster.emulator.requests()[("get", "pods/log")] == 0

    assert served.request("/experiments/customrun.tune")[0] == 200
    assert served.request("/experiments/customrun.nope")[0] == 404
    status, error = served.json("/api/experiments/customrun.nope")
    assert status == 404 and "customrun.nope" in error["error"]


def test_runs_are_the_trials_filtered_as_locally_with_their_pod_logs(served: Served) -> None:
    status, data = served.json("/api/runs?experiment=tune")
    assert status == 200 and len(data["runs"]) == 6
    assert len({r["trial"]["index"] for r in data["runs"]}) == 6 and all(r["kind"] == "trial" for r in data["runs"])
    status, data = served.json("/api/runs?status=Running")
    assert {r["id"]: r["kind"] for r in data["runs"]} == {"experiment.live": "experiment", **{
        name: "trial" for name in served.hanging}}
    status, data = served.json("/api/runs?top=1")
    assert {r["id"] for r in data["runs"]} == {"customrun.tune", "experiment.live"}
    status, error = served.json("/api/runs?status=Lost")
    assert status == 400 and "'status'" in error["error"]

    name = served.json("/api/experiments/customrun.tune")[1]["experiment"]["best"]["run_id"]
    status, run = served.json(f"/api/runs/{name}")
    assert status == 200 and run["experiment"] == "customrun.tune" and run["run"]["engine"] == "kubernetes"
    assert run["results"]["metrics"]["accuracy"] == pytest.approx(taskrun_scores(served.cluster, served.namespace,
                                                                                 name)[name])
    assert [h["accuracy"] for h in run["history"]] == [v for _, v in curve(run["results"]["metrics"]["accuracy"])]
    assert [entry["path"] for entry in run["logs"]] == [f"{name}-pod/step-main"]
    status, text = served.request(f"/api/runs/{name}/logs/{name}-pod/step-main?tail=1")
    assert status == 200 and text.decode().startswith("pipetune.report") and text.count(b"\n") == 1
    status, whole = served.request(f"/api/runs/{name}/logs/{name}-pod/step-main?download=1")
    assert whole.count(b"pipetune.report") == 3
    # Only this trial's own pods' containers: another pod's name is not a log of this run.
    other = next(n for n in taskrun_scores(served.cluster, served.namespace, "tune-") if n != name)
    status, error = served.json(f"/api/runs/{name}/logs/{other}-pod/step-main")
    assert status == 404 and "POD/CONTAINER" in error["error"]
    status, error = served.json(f"/api/runs/{name}/files/model.bin")
    assert status == 404 and "model.bin" in error["error"]
    assert served.request("/runs/no-such-trial")[0] == 404


def test_a_trials_artifacts_are_listed_with_their_uris_and_read_through_fsspec(served: Served) -> None:
    names = sorted(taskrun_scores(served.cluster, served.namespace, "tune-"))
    name = next(n for n in names if publishes_history(n))
    status, run = served.json(f"/api/runs/{name}")
    assert status == 200 and run["files_note"] is None
    uris = artifacts_of(name, served.store)
    assert run["results"]["artifacts"] == uris and run["results"]["outputs"]["trees"] > 0
    # A folder artifact is listed as its files, each with its own URI.
    files = {f["path"]: f for f in run["files"]}
    assert {p: f["uri"] for p, f in files.items()} == {
        "model": uris["model"], "report/index.txt": uris["report"] + "index.txt",
        "in-pod": uris["in-pod"], "offsite": uris["offsite"], "metadata": uris["metadata"], "host": uris["host"]}
    assert files["model"]["note"] is None and files["report/index.txt"]["note"] is None
    assert "a path in the trial's pod" in files["in-pod"]["note"]
    assert "'nosuchfs' filesystem" in files["offsite"]["note"] and "not installed" in files["offsite"]["note"]

    # The content, read from where the URI says (a download, never rendered).
    status, body = served.request(f"/api/runs/{name}/files/model")
    assert status == 200 and body == b"model of " + name.encode()
    status, body = served.request(f"/api/runs/{name}/files/report/index.txt")
    assert status == 200 and body == f"report of {name}\n".encode()
    status, error = served.json(f"/api/runs/{name}/files/report")
    assert status == 404 and "is a folder" in error["error"] and "index.txt" in error["error"]
    # What is not read here is refused, saying why; nothing outside a folder artifact is reached.
    status, error = served.json(f"/api/runs/{name}/files/offsite")
    assert status == 403 and "nosuchfs" in error["error"] and "not installed" in error["error"]
    status, error = served.json(f"/api/runs/{name}/files/in-pod")
    assert status == 403 and "path in the trial's pod" in error["error"]
    status, error = served.json(f"/api/runs/{name}/files/metadata")
    assert status == 403 and "does not fetch" in error["error"]
    # A file:// outside the --artifact-root folders is never read, even when it exists.
    host = Path(uris["host"].removeprefix("file://"))
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_text("host-token")
    assert "--artifact-root" in files["host"]["note"]
    status, body = served.request(f"/api/runs/{name}/files/host")
    assert status == 403 and b"host-token" not in body and b"--artifact-root" in body
    (served.store / "secret").write_text("the-secret-text")
    for path in ("report/..%2F..%2Fsecret", "report/%2E%2E/%2E%2E/secret", "report/%2Fetc%2Fpasswd",
                 "report/..%5C..%5Csecret", "report/index.txt%00"):
        status, body = served.request(f"/api/runs/{name}/files/{path}")
        assert status in (403, 404) and b"the-secret-text" not in body, path
    status, error = served.json(f"/api/runs/{name}/files/weights")
    assert status == 404 and "host, in-pod, metadata, model, offsite, report" in error["error"]


def test_a_trial_without_artifacts_says_why(served: Served) -> None:
    name, other = [n for n in sorted(taskrun_scores(served.cluster, served.namespace, "tune-"))
                   if not publishes_history(n)][:2]
    status, run = served.json(f"/api/runs/{name}")
    assert run["files"] == [] and f"TaskRun {name}'s results name no artifacts" in run["files_note"]
    status, error = served.json(f"/api/runs/{name}/files/model")
    assert status == 404 and "name no artifacts" in error["error"]
    # A TaskRun that published no results document at all (only its metric's own result).
    served.cluster.patch_status(TASKRUNS, served.namespace, other,
                                {"results": [{"name": "accuracy", "type": "string", "value": "0.5"}]})
    status, run = served.json(f"/api/runs/{other}")
    assert run["files"] == [] and "published no results document in its 'results' result" in run["files_note"]
    (hung,) = served.hanging
    assert "has not ended" in served.json(f"/api/runs/{hung}")[1]["files_note"]
    assert "open a trial" in served.json("/api/runs/customrun.tune")[1]["files_note"]


def test_a_trial_that_ends_shows_in_the_next_answer(served: Served) -> None:
    (hung,) = served.hanging
    before = served.json("/api/experiments/experiment.live")[1]
    assert [t["status"] for t in before["trials"]].count("Running") == 1
    # Tekton ends the hanging TaskRun; the controller collects it and writes the journal.
    text = yaml.safe_dump({"apiVersion": "pipetune.dev/v1", "metrics": {"accuracy": 0.5}})
    served.cluster.patch_status(TASKRUNS, served.namespace, hung, {
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "done"}],
        "completionTime": "2026-12-04T00:00:00Z", "results": [{"name": "results", "type": "string", "value": text}]})
    wait_status(served.cluster, EXPERIMENTS, served.namespace, "live",
                lambda o: (o.get("status") or {}).get("trialsSucceeded", 0) >= 3)
    after = served.json("/api/experiments/experiment.live")[1]
    trial = next(t for t in after["trials"] if t["run_id"] == hung)
    assert trial["status"] == "Succeeded" and trial["objective"] == 0.5


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_are_refused_with_the_reason(served: Served, method: str) -> None:
    served.controller.stop()
    served.cluster.emulator.reset_requests()
    for path in ("/api/runs/customrun.tune", "/api/experiments/customrun.tune", "/runs"):
        status, body = served.request(path, method)
        assert status == 405
        assert "only reads the cluster" in json.loads(body)["error"] and method in json.loads(body)["error"]
    assert not served.cluster.emulator.requests(), "a refused write reached the cluster"


def granted() -> set[tuple[str, str, str]]:
    (role,) = list(yaml.safe_load_all((ROOT / "manifests" / "dashboard-rbac.yaml").read_text()))
    assert role["kind"] == "ClusterRole"
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def test_rbac_grants_exactly_what_every_page_reads(served: Served) -> None:
    served.controller.stop()
    served.cluster.emulator.reset_requests()
    trials = served.json("/api/experiments/customrun.tune")[1]["trials"]
    name = next(t["run_id"] for t in trials if not publishes_history(t["run_id"]))
    for path in ("/", "/experiments", "/api/state", "/api/experiments", "/api/experiments/customrun.tune",
                 "/api/experiments/experiment.live/intermediate", "/api/experiments/customrun.tune/intermediate",
                 "/api/runs", "/api/runs?experiment=live&q=Running", f"/runs/{name}", f"/api/runs/{name}",
                 f"/api/runs/{name}/logs/{name}-pod/step-main?tail=5", f"/api/compare?ids={name},customrun.tune",
                 "/experiments/experiment.live", "/pipelines/customrun.tune"):
        status, _ = served.request(path)
        assert status in (200, 404), path
    used = {(GROUPS[resource.split("/")[0]], resource, verb)
            for (verb, resource), _count in served.cluster.emulator.requests().items()}
    rules = granted()
    assert used - rules == set(), f"the dashboard used what dashboard-rbac.yaml does not grant: {sorted(used - rules)}"
    assert rules - used == set(), f"dashboard-rbac.yaml grants what the dashboard never used: {sorted(rules - used)}"
    assert all(verb in ("get", "list", "watch") for _, _, verb in rules)


def test_a_refused_listing_says_what_to_grant(served: Served) -> None:
    served.cluster.emulator.fail("list", "customruns", 403, times=None)
    status, error = served.json("/api/experiments")
    assert status == 500
    assert "customruns.tekton.dev" in error["error"] and "403" in error["error"]
    assert "dashboard-rbac.yaml" in error["error"]
    # The page itself loads; its API calls show the message.
    assert served.request("/experiments/customrun.tune")[0] == 200


def test_a_cluster_without_tekton_or_the_crd_shows_no_experiments(served: Served) -> None:
    served.controller.stop()
    served.cluster.emulator.fail("list", "customruns", 404, times=None)
    served.cluster.emulator.fail("list", "experiments", 404, times=None)
    status, data = served.json("/api/experiments")
    assert status == 200 and data["experiments"] == []
    assert served.json("/api/runs")[1]["runs"] == []


def test_pipetune_ui_engine_kubernetes_serves_the_namespace_of_the_kubeconfig(served: Served, tmp_path: Path) -> None:
    served.controller.stop()
    kubeconfig = write_kubeconfig(served.cluster, tmp_path / "kubeconfig")
    config = yaml.safe_load(kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = served.namespace  # no --namespace: the context's
    kubeconfig.write_text(yaml.safe_dump(config))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "pipetune", "ui", "--engine", "kubernetes", "--port", "0"],
                               stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # the first line says where it listens and what it reads
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match and f"namespace {served.namespace} on {served.cluster.url}" in line and "read-only" in line, line
        with urllib.request.urlopen(match.group(0) + "api/experiments", timeout=30) as response:
            names = {x["name"] for x in json.loads(response.read())["experiments"]}
        assert names == {"tune", "live"}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_cluster_flags_without_the_kubernetes_engine_are_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pipetune", "ui", "--namespace", "team-a", "--port", "0"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60,
                            env={**os.environ, "KUBECONFIG": str(tmp_path / "none")})
    assert result.returncode == 2 and "--engine kubernetes" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "pipetune", "ui", "--engine", "kubernetes", "--port", "0"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60,
                            env={**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)})
    assert result.returncode == 2 and "no cluster to talk to" in result.stderr and "Traceback" not in result.stderr
