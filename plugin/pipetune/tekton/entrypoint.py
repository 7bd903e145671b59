"""A Task's steps as one local run, as Tekton's entrypoint runs them in a pod: in order, each
its own process, sharing the task's results, steps and workspace directories.

``python -m pipetune.tekton.entrypoint PLAN.json`` runs the plan ``pipetune pipeline run``
prepared (each step's program already mapped to this machine, its variables substituted). As
Tekton's entrypoint does: a step that fails ends the task and the steps after it do not run,
unless the step says ``onError: continue`` (its exit code is still written to
``$(steps.<name>.exitCode.path)``); a step's ``timeout`` stops it; once every step ran, the
declared results are checked: an array or object result must be JSON of that type, and the
results together must fit Tekton's termination message (4096 bytes), failing with Tekton's
own message otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pipetune.tekton import variables as _vars

#: Tekton's per-container termination message limit (``pkg/termination/write.go``).
RESULTS_LIMIT = 4096
TOO_LARGE = "Termination message is above max allowed size 4096, caused by large task result."


def check_results(results_dir: Path, declared: list[dict[str, Any]], limit: int = RESULTS_LIMIT) -> str | None:
    """Why the results written under ``results_dir`` are not what the Task declares, or None."""
    total = 0
    for result in declared:
        path = results_dir / str(result["name"])
        if not path.is_file():
            continue
        data = path.read_bytes()
        total += len(data) + len(str(result["name"])) + 32  # the key and JSON framing Tekton adds
        kind = str(result.get("type") or "string")
        if kind in ("array", "object"):
            try:
                parsed = json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return f"result {result['name']}: declared {kind}, but {data[:80]!r} is not JSON"
            if kind == "array" and not (isinstance(parsed, list) and all(isinstance(v, str) for v in parsed)):
                return f"result {result['name']}: declared array, expected a JSON array of strings"
            if kind == "object" and not (isinstance(parsed, dict) and all(isinstance(v, str) for v in parsed.values())):
                return f"result {result['name']}: declared object, expected a JSON object of strings"
    if total > limit:
        return TOO_LARGE
    return None


def _copy_stderr(process: subprocess.Popen[bytes], last: list[str]) -> None:
    """The step's stderr onto the task's, keeping its last line for the failure message."""
    assert process.stderr is not None
    for line in process.stderr:
        sys.stderr.buffer.write(line)
        sys.stderr.buffer.flush()
        if line.strip():
            last[:] = [line.decode("utf-8", "replace").strip()[:300]]


def _step_results(steps_dir: Path) -> dict[str, Any]:
    """``$(steps.<name>.results.<result>)`` for every step result written so far (JSON arrays
    and objects as such), as the entrypoint substitutes them when a step starts."""
    steps: dict[str, Any] = {}
    for folder in sorted(steps_dir.glob("step-*/results")):
        values: dict[str, Any] = {}
        for path in folder.iterdir():
            text = path.read_text(encoding="utf-8", errors="replace")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            values[path.name] = parsed if isinstance(parsed, (list, dict)) else text
        if values:
            steps[folder.parent.name[len("step-"):]] = {"results": values}
    return {"steps": steps} if steps else {}


def _read_only_view(source: Path, view: Path) -> None:
    """A fresh copy of a read-only workspace for one step, its files and folders not writable:
    a write fails as in Tekton for a user without root, and for root it is discarded with the
    copy (no mount here can refuse root a write)."""
    if view.exists():
        for path in sorted(view.rglob("*"), reverse=True):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        view.chmod(0o755)
        shutil.rmtree(view)
    shutil.copytree(source, view, symlinks=True)
    for path in [view, *view.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


def run(plan: dict[str, Any]) -> int:
    """Run the plan's steps; the task's exit status."""
    steps_dir = Path(plan["steps_dir"])
    child: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, _frame: object) -> None:
        for process in child:
            if process.poll() is None:
                process.terminate()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    failed: str | None = None
    code = 0
    summary = ""
    for index, step in enumerate(plan["steps"]):
        name = str(step["name"])
        folder = steps_dir / f"step-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        if not (steps_dir / str(index)).exists():
            (steps_dir / str(index)).symlink_to(folder.name)
        if failed is not None:
            print(f"step {name}: skipped, step {failed} failed", file=sys.stderr, flush=True)
            continue
        cwd = step.get("cwd")
        if cwd:
            Path(cwd).mkdir(parents=True, exist_ok=True)
        scope = _step_results(steps_dir)
        if scope:
            step = {**step, "argv": _vars.strings(step["argv"], scope),
                    "env": {k: _vars.text(v, scope) for k, v in step.get("env", {}).items()}}
            if step.get("script"):
                script = Path(step["script"])
                script.write_text(_vars.text(script.read_text(encoding="utf-8"), scope), encoding="utf-8")
        for source, view in step.get("read_only", []):
            _read_only_view(Path(source), Path(view))
        env = {**os.environ, **step.get("env", {})}
        last: list[str] = []
        try:
            process = subprocess.Popen(step["argv"], env=env, cwd=cwd or None, stderr=subprocess.PIPE)
        except OSError as exc:
            print(f"step {name}: cannot start {step['argv'][0]!r}: {exc.strerror or exc}", file=sys.stderr)
            exit_code = 127
        else:
            child[:] = [process]
            copier = threading.Thread(target=_copy_stderr, args=(process, last), daemon=True)
            copier.start()
            try:
                exit_code = process.wait(timeout=step.get("timeout"))
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait()
                print(f"step {name}: exceeded its timeout of {step['timeout']:g}s", file=sys.stderr, flush=True)
                exit_code = 1
            copier.join(5)
        (folder / "exitCode").write_text(str(exit_code), encoding="utf-8")
        if exit_code != 0:
            if step.get("onError") == "continue":
                print(f"step {name}: exit code {exit_code}, continuing (onError: continue)", file=sys.stderr,
                      flush=True)
                continue
            said = f": {last[0]}" if last else ""
            summary = f"step {name} failed with exit code {exit_code}{said}"
            print(summary, file=sys.stderr, flush=True)
            failed, code = name, exit_code
    if code:
        if len(plan["steps"]) > 1:
            print(summary, file=sys.stderr, flush=True)  # last: the line a run's failure message shows
        return code
    scope = _step_results(steps_dir)
    for result in plan.get("results", []):
        if result.get("value") is not None:
            value = _vars.value(result["value"], scope)
            text = value if isinstance(value, str) else json.dumps(value)
            (Path(plan["results_dir"]) / str(result["name"])).write_text(text, encoding="utf-8")
    problem = check_results(Path(plan["results_dir"]), plan.get("results", []), plan.get("limit", RESULTS_LIMIT))
    if problem:
        print(problem, file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: list[str]) -> int:
    """``PLAN.json`` as the only argument."""
    return run(json.loads(Path(argv[0]).read_text(encoding="utf-8")))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
