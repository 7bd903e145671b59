"""The dashboard's JSON API, over HTTP as the pages use it: what it answers, what it refuses."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ui.conftest import Served
from ui.stores import loss


def test_the_experiments_list_shows_each_with_its_best_and_progress(served: Served) -> None:
    status, data = served.json("/api/experiments")
    assert status == 200
    by_name = {x["name"]: x for x in data["experiments"]}
    assert set(by_name) == {"done", "live"}
    done, live = by_name["done"], by_name["live"]
    assert done["status"] == "Succeeded" and done["done"] == 8 and done["trials"] == 8
    assert done["best"]["index"] == 6 and done["best"]["objective"] == pytest.approx(loss(0.31, 0.69))
    assert done["algorithm"] == "random" and done["metric"] == "loss" and done["minimize"] is True
    assert live["status"] == "Running" and live["done"] == 3 and live["counts"]["Running"] == 1
    assert live["duration"] is not None and live["started"] > 0


def test_an_experiment_has_its_trials_and_every_view(served: Served) -> None:
    status, data = served.json(f"/api/experiments/{served.done.run_id}")
    assert status == 200
    trials = data["trials"]
    assert [t["index"] for t in trials] == list(range(8))
    assert trials[1]["status"] == "Failed" and trials[1]["objective"] is None
    assert trials[3]["status"] == "EarlyStopped"
    assert trials[0]["parameters"] == {"x": 0.1, "y": 0.2, "kind": "a"} and trials[0]["run_id"]
    figures = data["figures"]
    assert set(figures) == {"history", "importance", "slice", "parallel", "contour"}
    traces = {t["uid"]: t for t in figures["history"]["data"]}
    # Succeeded and early-stopped points apart; the failed trial on its own strip, not at a value.
    assert traces["history-Succeeded"]["x"] == [0, 2, 4, 5, 6, 7]
    assert traces["history-EarlyStopped"]["x"] == [3]
    assert traces["history-Failed"]["x"] == [1] and traces["history-Failed"]["yaxis"] == "y2"
    assert figures["history"]["layout"]["xaxis"]["tickformat"] == "d"
    best = traces["history-best"]["y"]
    assert best == sorted(best, reverse=True) and best[-1] == pytest.approx(loss(0.31, 0.69))
    parallel = figures["parallel"]["data"][0]
    assert [d["label"] for d in parallel["dimensions"]] == ["x", "y", "kind", "loss"]
    assert parallel["dimensions"][2]["ticktext"] == ["a", "b"]
    _, more = served.json(f"/api/experiments/{served.done.run_id}/intermediate")
    curves = more["figure"]["data"]
    assert len(curves) == 8 and curves[3]["name"] == "trial 3 (stopped early)" and curves[3]["line"]["dash"] == "dot"
    assert more["curves"]["0"] == [[1.0, pytest.approx(loss(0.1, 0.2) + 0.2)], [2.0, pytest.approx(loss(0.1, 0.2) + 0.1)],
                                   [3.0, pytest.approx(loss(0.1, 0.2))]]
    assert set(figures["importance"]["data"][0]["y"]) == {"x", "y", "kind"}
    assert sum(figures["importance"]["data"][0]["x"]) == pytest.approx(1.0)
    assert {t["uid"] for t in figures["contour"]["data"]} == {"contour", "contour-points"}


def test_a_new_trial_shows_in_the_next_answer(served: Served) -> None:
    _, before = served.json(f"/api/experiments/{served.live.run_id}")
    served.live.add(0.3, 0.7)
    _, after = served.json(f"/api/experiments/{served.live.run_id}")
    assert len(after["trials"]) == len(before["trials"]) + 1
    assert after["experiment"]["best"]["index"] == 4


def test_unchanged_answers_are_304_with_their_etag(served: Served) -> None:
    status, headers, _ = served.get(f"/api/experiments/{served.done.run_id}")
    assert status == 200
    again, _, body = served.get(f"/api/experiments/{served.done.run_id}", {"If-None-Match": headers["ETag"]})
    assert again == 304 and body == b""


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("/api/runs?limit=abc", "'limit': expected a whole number, got 'abc'"),
        ("/api/runs?limit=0", "'limit': expected 1 to 5000"),
        ("/api/runs?status=Done", "'status': expected one of Pending, Running, Succeeded, Failed, Cancelled"),
        ("/api/runs?since=lastweek", "query parameter 'since' 'lastweek': expected an age"),
        ("/api/runs?sort=colour", "'sort': expected one of created"),
        ("/api/runs?colour=red", "unknown query parameter 'colour'"),
        ("/api/runs?status=Failed&status=Running", "'status' given 2 times"),
        ("/api/runs?top=maybe", "'top': expected 1 or 0"),
        ("/api/compare?ids=one", "'ids': expected 2 or more run ids"),
        ("/api/experiments?x=1", "unknown query parameter 'x'; this endpoint takes: none"),
        ("/api/runs?a=%ZZ&&&", "malformed query string"),
    ],
)
def test_a_malformed_query_is_a_400_with_one_message(served: Served, query: str, names: str) -> None:
    status, headers, body = served.get(query)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    data = json.loads(body)
    assert set(data) == {"error", "status"} and names in data["error"]
    assert "\n" not in data["error"] and "Traceback" not in data["error"]


@pytest.mark.parametrize(
    "path",
    [
        "logs/..%2F..%2F..%2Fruns.db",
        "logs/%2E%2E/%2E%2E/%2E%2E/runs.db",
        "logs/%2Fetc%2Fpasswd",
        "files/..%2F..%2Flogs%2Fstdout.log",
        "files/..%5C..%5Cruns.db",
        "files/model.bin%00.txt",
        "files/escape/secret",
        "logs/escape",
    ],
)
def test_a_path_out_of_a_runs_folders_is_refused(served: Served, path: str, tmp_path: Path) -> None:
    run_id = served.done.store.list(parent_id=served.done.run_id)[0].id
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("the-secret-text")
    run_dir = served.state_dir / "runs" / run_id
    os.symlink(outside, run_dir / "outputs" / "escape")
    os.symlink(outside / "secret", run_dir / "logs" / "escape")
    status, _, body = served.get(f"/api/runs/{run_id}/{path}")
    assert status in (403, 404) and b"the-secret-text" not in body and b"SQLite" not in body
    assert status == 403 or "no " in json.loads(body)["error"]


def test_a_runs_logs_tail_and_download_and_its_files(served: Served) -> None:
    status, headers, body = served.get("/api/runs/20200101-000000-solo0001/logs/stdout.log?tail=3")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert body == b"line 997\nline 998\nline 999\n"
    status, headers, body = served.get("/api/runs/20200101-000000-solo0001/logs/stdout.log?download=1")
    assert "attachment" in headers["Content-Disposition"] and body.count(b"\n") == 1000
    trial_run = served.done.store.list(parent_id=served.done.run_id)[0].id
    status, data = served.json(f"/api/runs/{trial_run}")
    assert status == 200
    assert {f["path"] for f in data["files"]} == {"results.yaml", "model.bin"}
    assert {f["path"] for f in data["logs"]} == {"stdout.log", "stderr.log"}
    assert data["run"]["trial"]["index"] is not None and data["experiment"] == served.done.run_id
    assert [h["step"] for h in data["history"]] == [1, 2, 3]
    status, headers, body = served.get(f"/api/runs/{trial_run}/files/model.bin")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream" and len(body) == 2048


def test_an_unknown_run_is_404_for_the_api_and_the_page(served: Served) -> None:
    status, data = served.json("/api/runs/nope")
    assert status == 404 and "no run 'nope'" in data["error"]
    status, headers, body = served.get("/runs/nope")
    assert status == 404 and headers["Content-Type"].startswith("text/html") and b'data-status="404"' in body
    assert served.get("/experiments/20200101-000000-solo0001")[0] == 404  # a run, not an experiment
    assert served.get(f"/experiments/{served.done.run_id}")[0] == 200
    assert served.get("/no/such/page")[0] == 404


def test_runs_filter_by_status_experiment_time_and_text(served: Served) -> None:
    _, failed = served.json("/api/runs?status=Failed")
    assert [r["trial"]["index"] for r in failed["runs"]] == [1]
    _, trials = served.json("/api/runs?experiment=done&limit=100")
    assert len(trials["runs"]) == 8 and all(r["kind"] == "trial" for r in trials["runs"])
    _, recent = served.json("/api/runs?since=1d&limit=1000")
    assert "20200101-000000-solo0001" not in {r["id"] for r in recent["runs"]}
    _, found = served.json("/api/runs?q=SKLEARN")
    assert [r["id"] for r in found["runs"]] == ["20200101-000000-solo0001"]
    _, top = served.json("/api/runs?top=1")
    assert {r["kind"] for r in top["runs"]} == {"experiment", "run"}
    _, page = served.json("/api/runs?limit=2&offset=1")
    assert len(page["runs"]) == 2 and page["more"] is True
    _, by_metric = served.json("/api/runs?experiment=done&sort=metric:-loss&limit=1")
    assert by_metric["runs"][0]["trial"]["index"] == 6


def test_compare_marks_what_differs(served: Served) -> None:
    runs = [r.id for r in served.done.store.list(parent_id=served.done.run_id)][:3]
    status, data = served.json("/api/compare?ids=" + ",".join(runs))
    assert status == 200 and len(data["runs"]) == 3
    rows = {row["name"]: row for row in data["parameters"]}
    assert rows["x"]["differs"] is True and len(rows["x"]["values"]) == 3
    assert set(data["histories"]) == set(runs)


def test_only_loopback_host_names_are_answered(served: Served) -> None:
    status, _, body = served.get("/api/experiments", {"Host": "attacker.example:80"})
    assert status == 403 and b"localhost" in body
    assert served.get("/api/experiments", {"Host": "localhost:1"})[0] == 200


def test_static_files_come_from_the_package(served: Served) -> None:
    status, headers, body = served.get("/static/plotly.min.js")
    assert status == 200 and len(body) > 1_000_000 and headers["Content-Type"].startswith("text/javascript")
    status, _, page = served.get("/experiments")
    assert status == 200 and b"http" not in page.replace(b'http-equiv', b'')  # no CDN, nothing remote
    assert served.get("/static/../ui/_api.py")[0] == 404


def test_the_dashboard_writes_nothing_in_the_state_directory(served: Served) -> None:
    before = sorted(str(p.relative_to(served.state_dir)) for p in served.state_dir.rglob("*"))
    for path in ("/api/experiments", f"/api/experiments/{served.live.run_id}", "/api/runs", "/api/state",
                 "/api/runs/20200101-000000-solo0001"):
        assert served.get(path)[0] == 200
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        request = urllib.request.Request(served.url + "/api/runs/20200101-000000-solo0001", method=method, data=b"x")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 405 and refused.value.headers["Allow"] == "GET, HEAD"
        assert "pipetune runs delete" in json.loads(refused.value.read())["error"]
    after = sorted(str(p.relative_to(served.state_dir)) for p in served.state_dir.rglob("*"))
    assert after == before


def test_a_pipeline_run_is_its_tasks_with_their_graph(served: Served) -> None:
    from ui.stores import pipeline_run

    pipeline_id = pipeline_run(served.state_dir)
    status, data = served.json(f"/api/pipelines/{pipeline_id}")
    assert status == 200 and data["edges_known"] is True
    tasks = {t["name"]: t for t in data["tasks"]}
    assert tasks["train"]["needs"] == ["prepare"] and tasks["train"]["run"]["status"] == "Failed"
    assert tasks["report"]["run"]["outputs"] == {"rows": 10} and tasks["prepare"]["run"]["duration"] == 1.0
    assert served.get(f"/pipelines/{pipeline_id}")[0] == 200
    assert served.get(f"/pipelines/{served.done.run_id}")[0] == 404  # an experiment, not a pipeline
    assert served.json(f"/api/pipelines/{served.done.run_id}")[0] == 404
    (served.state_dir / "runs" / pipeline_id / "pipeline.json").unlink()
    _, bare = served.json(f"/api/pipelines/{pipeline_id}")
    assert bare["edges_known"] is False and {t["name"] for t in bare["tasks"]} == {"prepare", "train", "report"}
