"""The dashboard in a real headless browser: `pipetune ui` started as a user starts it, over a
state directory with a finished and a running experiment, and each page read as a user reads
it. Chromium and chromedriver come from the OS packages (Debian: chromium, chromium-driver),
driven by selenium; without them these tests skip. Screenshots go to $PIPETUNE_SCREENSHOTS,
default build/ui-screenshots/ (README: The dashboard)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT
from ui.stores import FakeExperiment, finished_and_running, loss

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(BROWSER is None or DRIVER is None, reason="no Chromium and chromedriver installed "
                       "(apt-get install chromium chromium-driver)"),
    pytest.mark.slow,
]
SHOTS = Path(os.environ.get("PIPETUNE_SCREENSHOTS") or ROOT / "build" / "ui-screenshots")
DEADLINE = 60.0


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what``."""
    end = time.monotonic() + deadline
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except WebDriverException as exc:  # an element replaced while read: try again
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what} after {deadline:g} s" + (f" ({last})" if last else ""))


class Dashboard:
    def __init__(self, url: str, state_dir: Path, done: FakeExperiment, live: FakeExperiment) -> None:
        self.url, self.state_dir, self.done, self.live = url, state_dir, done, live


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    state_dir = tmp_path_factory.mktemp("ui") / "state"
    done, live = finished_and_running(state_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipetune", "ui", "--state-dir", str(state_dir), "--port", "0"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # the first line says where it listens
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"pipetune ui said {line!r}"
        yield Dashboard(match.group(0).rstrip("/"), state_dir, done, live)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    # --no-sandbox: CI runs as root; SwiftShader: WebGL (parallel coordinates) with no GPU.
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800",
                 "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(browser: Any, name: str) -> None:
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def texts(browser: Any, selector: str) -> list[str]:
    return [e.text for e in browser.find_elements(By.CSS_SELECTOR, selector)]


def test_the_experiments_page_lists_both_with_their_best(browser: Any, dashboard: Dashboard) -> None:
    browser.get(dashboard.url + "/experiments")
    rows = wait_for(lambda: len(texts(browser, "#experiments-body tr")) == 2 and texts(browser, "#experiments-body tr"),
                    "two experiment rows")
    done = next(r for r in rows if r.startswith("done"))
    assert "Succeeded" in done and f"loss {loss(0.31, 0.69):.6g}".rstrip("0") in done and "8/8 done" in done
    live = next(r for r in rows if r.startswith("live"))
    assert "Running" in live and re.search(r"[34]/[45] done, 1 running", live)  # a later test adds one
    shot(browser, "experiments")


def test_an_experiment_shows_its_best_trials_and_plots(browser: Any, dashboard: Dashboard) -> None:
    browser.get(f"{dashboard.url}/experiments/{dashboard.done.run_id}")
    best = wait_for(lambda: browser.find_element(By.ID, "best-value").text not in ("", "-")
                    and browser.find_element(By.ID, "best-value").text, "the best value")
    assert float(best) == pytest.approx(loss(0.31, 0.69), rel=1e-5)
    assert browser.find_element(By.ID, "best-trial").text == "6"
    rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr"), "the trials table")
    assert len(rows) == 8
    assert "★" in rows[6].text and "best" in rows[6].get_attribute("class")
    # The history plot draws one point per succeeded trial in its first trace, and the
    # early-stopped one in its own.
    points = wait_for(lambda: browser.execute_script(
        "const t = document.querySelectorAll('#fig-history .scatterlayer .trace');"
        "return t.length ? [t[0].querySelectorAll('path.point').length, t[1].querySelectorAll('path.point').length] : null;"),
        "the history plot's points")
    assert points == [6, 1]
    axis = browser.execute_script("return [...document.querySelectorAll('#fig-history .xtick text')].map(t => t.textContent)")
    assert axis and all(re.fullmatch(r"\d+", tick) for tick in axis)  # whole trial numbers only
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#fig-parallel .parcoords, #fig-parallel canvas"),
             "the parallel coordinates")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#fig-intermediate .scatterlayer .trace")) == 8,
             "one intermediate-values line per trial")
    shot(browser, "experiment-finished")


def test_the_trials_table_sorts_and_filters(browser: Any, dashboard: Dashboard) -> None:
    browser.get(f"{dashboard.url}/experiments/{dashboard.done.run_id}")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == 8, "eight trial rows")
    browser.find_element(By.CSS_SELECTOR, '#trials th[data-key="objective"]').click()
    first = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#trials tbody tr").get_attribute("data-trial"),
                     "a sorted table")
    assert first == "6"  # the smallest loss first
    Select(browser.find_element(By.ID, "trial-status")).select_by_value("Failed")
    wait_for(lambda: [r.get_attribute("data-trial") for r in browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")]
             == ["1"], "only the failed trial")
    Select(browser.find_element(By.ID, "trial-status")).select_by_value("")
    browser.find_element(By.ID, "trial-filter").send_keys("EarlyStopped")
    wait_for(lambda: [r.get_attribute("data-trial") for r in browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")]
             == ["3"], "only the early-stopped trial")
    browser.find_element(By.CSS_SELECTOR, "#trials tbody tr").click()
    detail = wait_for(lambda: "stdout.log" in browser.find_element(By.ID, "trial-detail").text
                      and browser.find_element(By.ID, "trial-detail").text, "the trial's logs and artifacts")
    assert "Trial 3" in detail and "model.bin" in detail


def test_a_new_trial_appears_without_a_reload(browser: Any, dashboard: Dashboard) -> None:
    browser.get(f"{dashboard.url}/experiments/{dashboard.live.run_id}")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == 4, "four trial rows")
    browser.execute_script("window.samePage = true")
    dashboard.live.add(0.3, 0.7)  # the best possible point
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == 5, "the fifth trial")
    assert browser.execute_script("return window.samePage") is True
    wait_for(lambda: browser.find_element(By.ID, "best-trial").text == "4", "the new best trial")
    points = wait_for(lambda: browser.execute_script(
        "return document.querySelector('#fig-history .scatterlayer .trace').querySelectorAll('path.point').length") == 4,
        "the new point in the history plot")
    assert points
    shot(browser, "experiment-running")


def test_a_filter_narrows_the_run_list(browser: Any, dashboard: Dashboard) -> None:
    browser.get(dashboard.url + "/runs")
    total = len(wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr"), "the run rows"))
    assert total >= 14
    Select(browser.find_element(By.CSS_SELECTOR, "#run-filters select[name=status]")).select_by_value("Failed")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 1, "only the failed run")
    assert "status=Failed" in browser.current_url
    Select(browser.find_element(By.CSS_SELECTOR, "#run-filters select[name=status]")).select_by_value("")
    browser.find_element(By.CSS_SELECTOR, "#run-filters input[name=q]").send_keys("sklearn")
    wait_for(lambda: [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]
             == ["20200101-000000-solo0001"], "only the sklearn run")
    assert "train-sklearn" in browser.find_element(By.CSS_SELECTOR, "#runs tbody tr").text
    shot(browser, "runs-filtered")
    browser.find_element(By.CSS_SELECTOR, "#run-filters input[name=since]").send_keys("xyz")
    error = wait_for(lambda: browser.find_element(By.ID, "error").text, "the filter's error")
    assert "'since'" in error and "expected an age" in error


def test_a_run_shows_its_log_tail(browser: Any, dashboard: Dashboard) -> None:
    browser.get(dashboard.url + "/runs/20200101-000000-solo0001")
    log = wait_for(lambda: browser.find_element(By.ID, "log-text").text, "the log tail")
    assert log.splitlines()[-1] == "line 999" and len(log.splitlines()) == 200
    assert "accuracy=0.9" in browser.find_element(By.ID, "run-metrics").text
    shot(browser, "run")


def test_an_unknown_run_is_a_404_page(browser: Any, dashboard: Dashboard) -> None:
    browser.get(dashboard.url + "/runs/no-such-run")
    page = wait_for(lambda: browser.find_element(By.ID, "not-found").text, "the not-found page")
    assert "404" in page and "/runs/no-such-run" in page
    shot(browser, "not-found")


def test_a_pipeline_run_is_drawn_as_its_dag(browser: Any, dashboard: Dashboard) -> None:
    from ui.stores import pipeline_run

    pipeline_id = pipeline_run(dashboard.state_dir)
    browser.get(f"{dashboard.url}/pipelines/{pipeline_id}")
    nodes = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#dag-svg g.node"), "the DAG's nodes")
    assert {(n.get_attribute("data-task"), n.get_attribute("data-status")) for n in nodes} == {
        ("prepare", "Succeeded"), ("train", "Failed"), ("report", "Succeeded")}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#dag-svg path")) == 2  # prepare -> train, prepare -> report
    shot(browser, "pipeline")
