"""Time to first plot: how long a browser waits, on an experiment of 2,000 trials, from asking
for the experiment's page until its optimisation history is drawn with every point, in
`pipetune ui` and in optuna-dashboard on the same trials.

    pip install -e '.[bench]'            # adds Optuna and optuna-dashboard
    python bench/ui_first_plot.py        # 2,000 trials, 5 rounds each (3 rounds: 6 minutes on 2 loaded cores)
    python bench/ui_first_plot.py --trials 500 --rounds 3

Each round starts the server afresh (nothing cached) and opens the page in a new headless
Chromium tab (the OS's chromium and chromedriver, through selenium); a second load of the same
page in that round is the "warm" figure. The clock is the page's own (``performance.now()``,
from navigation start) read when the history plot first holds every scored trial's point.
Medians over rounds; figures to stdout and ``bench/out/ui_first_plot.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pipetune.store import RunStore  # noqa: E402
from ui.stores import FakeExperiment  # noqa: E402

#: What the page holds when its history plot is drawn: every point as an SVG path, or a WebGL
#: trace (scattergl) holding every point.
DRAWN = """
const plot = document.querySelector(arguments[0]);
if (!plot || !plot._fullData) return null;
const points = plot.querySelectorAll('.scatterlayer .point').length;
const gl = plot._fullData.some(t => t.type === 'scattergl' && (t.x || []).length >= arguments[1]);
return points >= arguments[1] || gl ? performance.now() : null;
"""


def trials(count: int, seed: int = 1) -> list[tuple[float, float, str, bool]]:
    rng = random.Random(seed)
    return [(rng.random(), rng.random(), rng.choice("abc"), i % 17 == 0) for i in range(count)]


def pipetune_state(folder: Path, points: list[tuple[float, float, str, bool]]) -> str:
    store = RunStore(folder)
    experiment = FakeExperiment(store, "bench", folder / "experiments" / "bench")
    for x, y, kind, failed in points:
        experiment.add(x, y, kind, status="Failed" if failed else "Succeeded")
    experiment.finish()
    store.close()
    return experiment.run_id


def optuna_storage(path: Path, points: list[tuple[float, float, str, bool]]) -> str:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{path}"
    study = optuna.create_study(storage=url, study_name="bench", direction="minimize")
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "y": optuna.distributions.FloatDistribution(0, 1),
             "kind": optuna.distributions.CategoricalDistribution(["a", "b", "c"])}
    made = []
    for x, y, kind, failed in points:
        value = (x - 0.3) ** 2 + (y - 0.7) ** 2
        made.append(optuna.trial.create_trial(
            params={"x": x, "y": y, "kind": kind}, distributions=space,
            state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE,
            value=None if failed else value,
            intermediate_values={} if failed else {s: value + (3 - s) * 0.1 for s in (1, 2, 3)}))
    study.add_trials(made)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {deadline:g} s")


def browser() -> Any:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                                   if shutil.which(n))
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800",
                 "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")),
                            options=options)


def first_plot(driver: Any, url: str, selector: str, points: int, deadline: float = 120.0) -> float:
    """Milliseconds from navigation start until the plot holds ``points`` points."""
    driver.get("about:blank")
    driver.get(url)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        drawn = driver.execute_script(DRAWN, selector, points)
        if drawn is not None:
            return float(drawn)
        time.sleep(0.01)
    raise RuntimeError(f"{url}: {selector} never held {points} points")


def measure(name: str, command: list[str], url: str, selector: str, points: int, rounds: int) -> dict[str, Any]:
    cold, warm = [], []
    for _ in range(rounds):
        port = free_port()
        process = subprocess.Popen([part.replace("{port}", str(port)) for part in command],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            wait_listening(port)
            driver = browser()
            try:
                address = url.replace("{port}", str(port))
                cold.append(first_plot(driver, address, selector, points))
                warm.append(first_plot(driver, address, selector, points))
            finally:
                driver.quit()
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {"name": name, "cold_ms": cold, "warm_ms": warm,
            "cold_median_ms": statistics.median(cold), "warm_median_ms": statistics.median(warm)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not (shutil.which("chromedriver") and any(shutil.which(n) for n in ("chromium", "chromium-browser"))):
        print("needs chromium and chromedriver (apt-get install chromium chromium-driver)", file=sys.stderr)
        return 2
    points = trials(args.trials)
    scored = sum(1 for p in points if not p[3])
    work = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    results = []
    try:
        run_id = pipetune_state(work / "state", points)
        results.append(measure(
            "pipetune ui", [sys.executable, "-m", "pipetune", "ui", "--state-dir", str(work / "state"), "--port", "{port}"],
            f"http://127.0.0.1:{{port}}/experiments/{run_id}", "#fig-history", scored, args.rounds))
        try:
            import optuna_dashboard  # noqa: F401
        except ImportError:
            print("optuna-dashboard is not installed: pip install -e '.[bench]'", file=sys.stderr)
        else:
            storage = optuna_storage(work / "optuna.sqlite3", points)
            results.append(measure(
                "optuna-dashboard", [str(Path(sys.executable).with_name("optuna-dashboard")), storage, "--port", "{port}"],
                "http://127.0.0.1:{port}/dashboard/studies/1", "#plot-history", scored, args.rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"time to first plot, {args.trials} trials ({scored} scored), median of {args.rounds} rounds")
    print(f"{'dashboard':<18} {'cold ms':>9} {'warm ms':>9}")
    for r in results:
        print(f"{r['name']:<18} {r['cold_median_ms']:>9.0f} {r['warm_median_ms']:>9.0f}")
    if len(results) == 2:
        print(f"pipetune / optuna-dashboard: cold {results[0]['cold_median_ms'] / results[1]['cold_median_ms']:.2f}, "
              f"warm {results[0]['warm_median_ms'] / results[1]['warm_median_ms']:.2f}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ui_first_plot.json").write_text(json.dumps({"trials": args.trials, "rounds": args.rounds,
                                                         "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
