"""The cluster dashboard in a real headless browser: the pages of `pipetune ui --engine
kubernetes` over the emulated cluster of test_cluster.py (a finished tuning CustomRun, a
running Experiment), read as a user reads them. Skips without Chromium, as test_browser.py;
screenshots go to the same folder (cluster-*.png)."""

from __future__ import annotations

from typing import Any

import pytest

from controller.conftest import api_client, cluster, namespace, start_controller  # noqa: F401 - fixtures

# test_browser skips the module without selenium, before its selenium imports (By among them).
from ui.test_browser import By, browser, pytestmark, shot, texts, wait_for  # noqa: F401 - fixtures, marks
from ui.test_cluster import Served, artifacts_of, publishes_history, served, taskrun_scores  # noqa: F401 - fixtures


def test_the_clusters_experiments_and_one_of_them(browser: Any, served: Served) -> None:  # noqa: F811
    browser.get(served.url + "/experiments")
    rows = wait_for(lambda: len(texts(browser, "#experiments-body tr")) == 2 and texts(browser, "#experiments-body tr"),
                    "two experiment rows")
    tune = next(r for r in rows if r.startswith("tune"))
    assert "Succeeded" in tune and "6/6 done" in tune
    live = next(r for r in rows if r.startswith("live"))
    assert "Running" in live and "2/3 done, 1 running" in live
    assert served.namespace in browser.find_element(By.ID, "where").text
    shot(browser, "cluster-experiments")

    scores = taskrun_scores(served.cluster, served.namespace, "tune-")
    browser.get(served.url + "/experiments/customrun.tune")
    best = wait_for(lambda: browser.find_element(By.ID, "best-value").text not in ("", "-")
                    and browser.find_element(By.ID, "best-value").text, "the best value")
    assert float(best) == pytest.approx(max(scores.values()), rel=1e-5)
    assert browser.find_element(By.ID, "resource").text == f"CustomRun {served.namespace}/tune"
    assert len(wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr"), "the trials table")) == 6
    points = wait_for(lambda: browser.execute_script(
        "const t = document.querySelector('#fig-history .scatterlayer .trace');"
        "return t ? t.querySelectorAll('path.point').length : null;"), "the history plot's points")
    assert points == 6
    # The curves come from the trials' pod logs.
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#fig-intermediate .scatterlayer .trace")) == 6,
             "one intermediate-values line per trial")
    browser.find_element(By.CSS_SELECTOR, "#trials tbody tr.best").click()
    detail = wait_for(lambda: "step-main" in browser.find_element(By.ID, "trial-detail").text
                      and browser.find_element(By.ID, "trial-detail").text, "the trial's logs")
    best = served.json("/api/experiments/customrun.tune")[1]["experiment"]["best"]["run_id"]
    # Its artifacts with their URIs, or why there are none.
    assert "/step-main" in detail
    assert (artifacts_of(best, served.store)["model"] in detail if publishes_history(best)
            else "results name no artifacts" in detail)
    shot(browser, "cluster-experiment")


def test_a_trial_shows_its_pod_log_and_curve(browser: Any, served: Served) -> None:  # noqa: F811
    name = max(taskrun_scores(served.cluster, served.namespace, "tune-").items(), key=lambda kv: kv[1])[0]
    browser.get(f"{served.url}/runs/{name}")
    log = wait_for(lambda: browser.find_element(By.ID, "log-text").text, "the log tail")
    assert log.count("pipetune.report") == 3
    assert browser.find_element(By.ID, "log-name").text.startswith(f"{name}-pod/step-main")
    assert wait_for(lambda: browser.execute_script(
        "const t = document.querySelector('#fig-run-history .scatterlayer .trace');"
        "return t ? t.querySelectorAll('path.point').length : null;"), "the trial's curve") == 3
    shot(browser, "cluster-trial")


def test_a_trials_page_lists_its_artifacts_with_their_uris(browser: Any, served: Served) -> None:  # noqa: F811
    names = sorted(taskrun_scores(served.cluster, served.namespace, "tune-"))
    name = next(n for n in names if publishes_history(n))
    browser.get(f"{served.url}/runs/{name}")
    rows = wait_for(lambda: len(texts(browser, "#files tbody tr")) == 6 and texts(browser, "#files tbody tr"),
                    "the artifacts table")
    uris = artifacts_of(name, served.store)
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {"host", "in-pod", "metadata", "model", "offsite", "report/index.txt"}
    assert uris["model"] in by_name["model"] and uris["report"] + "index.txt" in by_name["report/index.txt"]
    assert "download" in by_name["model"] and "not installed" in by_name["offsite"]
    assert "path in the trial's pod" in by_name["in-pod"] and "--artifact-root" in by_name["host"]
    # Its outputs are those its results published.
    assert "trees=" in browser.find_element(By.ID, "run-outputs").text
    link = browser.find_element(By.LINK_TEXT, "model").get_attribute("href")
    assert link.endswith(f"/api/runs/{name}/files/model")
    shot(browser, "cluster-artifacts")
    other = next(n for n in names if not publishes_history(n))
    browser.get(f"{served.url}/runs/{other}")
    note = wait_for(lambda: browser.find_element(By.ID, "files-note").text, "why there are no artifacts")
    assert f"TaskRun {other}'s results name no artifacts" in note
    browser.get(served.url + "/runs/no-such-trial")
    page = wait_for(lambda: browser.find_element(By.ID, "not-found").text, "the not-found page")
    assert "404" in page and served.namespace in page
