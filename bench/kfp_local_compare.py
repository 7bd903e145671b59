"""pipetune pipeline run side by side with kfp.local's SubprocessRunner over KFP's compiled
test pipelines (../shared/fixtures/kfp-compiled): for each file, what each runner does
(succeeded, failed, refused before running), how long it took and, where both ran it,
whether every task's status and output parameters agree.

    python -m venv /tmp/venv-kfp
    /tmp/venv-kfp/bin/pip install kfp==2.17.0 kfp-kubernetes==2.17.0 'setuptools>=70' wheel
    python bench/kfp_local_compare.py [--only SUBSTRING ...] [--timeout 300] \
        --kfp-python /tmp/venv-kfp/bin/python

The table goes to stdout, the details to bench/out/kfp_local_compare.json (and one JSON line
per file, as each ends, to bench/out/kfp_local_compare.jsonl, so an interrupted run keeps
what it measured). Each run is a fresh subprocess with its own state directory (pipetune) or
pipeline root (kfp.local), with the same parameters (tests/pipeline/kfp_compiled_cases.py)
for both.

kfp.local's ``SubprocessRunner(use_venv=False)`` runs each task with its own interpreter
(``python3`` in the command becomes ``sys.executable``) and pip-installs the task's
``packages_to_install`` (``kfp==<the compiling version>`` in every lightweight component)
into it. So that no run changes an interpreter, kfp.local's side runs with ``PIP_TARGET`` set
to a scratch folder of that file's run, put at the end of each child's ``sys.path`` (a
``sitecustomize`` on ``PYTHONPATH``): the tasks import what they installed, but the
interpreter's own packages first, so both runners run the components with the same kfp (the
``kfp==`` pins land in the scratch folder, unused). The interpreter's distributions are listed
before and after the whole run and the summary says whether they changed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "kfp-compiled"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "plugin"))

from pipeline.kfp_compiled_cases import CASES, SECRETS, Case  # noqa: E402

#: kfp.local in a child process: load the compiled file as a component, call it, print the
#: outcome and every task kfp.local ran (its name, status and outputs) as one JSON line.
KFP_LOCAL = r"""
import json, os, sys
path, root, params, artifacts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
import kfp
from kfp import components, dsl, local
from kfp.local.orchestrator import task_executor

tasks = []
plain = lambda v: v if isinstance(v, (str, int, float, bool, list, dict)) or v is None else \
    {"artifact": getattr(v, "name", ""), "uri": getattr(v, "uri", str(v)), "metadata": getattr(v, "metadata", {})}
execute = task_executor.execute_single_task

def recorded(task_name, *args, **kwargs):
    outputs, status = execute(task_name, *args, **kwargs)
    many = lambda v: [plain(x) for x in v] if isinstance(v, list) and v and hasattr(v[0], "uri") else plain(v)
    tasks.append({"task": task_name, "status": getattr(status, "name", str(status)),
                  "outputs": {k: many(v) for k, v in (outputs or {}).items()}})
    return outputs, status

task_executor.execute_single_task = recorded
from kfp.local import task_dispatcher
single = task_dispatcher.run_single_task

def single_recorded(pipeline_spec, arguments):
    # A file that is one component compiled alone: kfp.local runs it as one task, not
    # through the orchestrator; the task is named after the component (comp-NAME).
    name = list(pipeline_spec.components)[0].removeprefix("comp-")
    try:
        outputs = single(pipeline_spec, arguments)
    except BaseException:
        tasks.append({"task": name, "status": "FAILURE", "outputs": {}})
        raise
    tasks.append({"task": name, "status": "SUCCESS", "outputs": {k: plain(v) for k, v in (outputs or {}).items()}})
    return outputs

task_dispatcher.run_single_task = single_recorded
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root,
           workspace_root=os.path.join(root, "workspace"), raise_on_error=True)
result = {"kfp": kfp.__version__, "tasks": tasks}
try:
    pipeline = components.load_component_from_file(path)
    for name, uri in artifacts.items():
        params[name] = dsl.Artifact(uri=uri)
    task = pipeline(**params)
    result.update(outcome="Succeeded", outputs={k: plain(v) for k, v in (task.outputs or {}).items()})
except BaseException as exc:
    result.update(outcome="error", why=f"{type(exc).__name__}: {exc}"[:400])
print("\n" + json.dumps(result, default=str))
"""

#: Where the two differ, why, as read in each file's Python and kfp.local's logs.
NOTES = {
    "pipeline_with_input_status_state.yaml": "kfp.local gives PipelineTaskFinalStatus.state 'SUCCEEDED'; KFP's "
                                             "backend gives 'COMPLETE', which this file's Python asserts",
    "local_execution_pipeline_with_exit_handler.yaml": "kfp.local gives PipelineTaskFinalStatus.state "
                                                       "'SUCCEEDED' (what this file, written for kfp.local, "
                                                       "expects); KFP's backend and pipetune give 'COMPLETE'",
    "pipeline_with_artifact_custom_path.yaml": "kfp.local hands the consumer the default path, not the one "
                                               "set_path gave",
    "pipeline_with_pod_metadata.yaml": "kfp.local applies no kfp-kubernetes settings (here pod labels and "
                                       "annotations); pipetune gives them to the task",
    "pipeline_with_secret_as_env.yaml": "kfp.local has no source for Kubernetes Secrets; pipetune reads them "
                                        "from --secrets",
    "nested_with_parameters.yaml": "kfp.local hands the collected ints to add as floats, so add returns 72.0 "
                                   "and fails its own int check; pipetune gives 72",
    "nested_parallel_for_secret.yaml": "kfp.local has no source for Kubernetes Secrets; pipetune reads them from "
                                       "--secrets",
    "pipeline_with_parallelfor_list_artifacts_GH-12033.yaml": "kfp.local gives the artifacts an empty name; "
                                                              "pipetune names each after its output, as KFP does",
    "pipeline_with_nested_loops.yaml": "kfp.local cannot read a field of a loop item (loop_parameter-subvar-p_a)",
    "parameters_complex.yaml": "kfp.local hands the collected ints to simple-add as floats",
    "pipeline_producer_consumer.yaml": "kfp.local hands the collected ints to add as floats",
    "pipeline_with_parallelfor_pipeline_param.yaml": "kfp.local passes the loop item as the prefix, not "
                                                     "make-prefix's output the Python wires in",
    "pipeline_in_pipeline_complex.yaml": "kfp.local fails the loop's first iteration (a condition in a nested "
                                         "pipeline; its log names no cause)",
    "pipeline_with_dynamic_importer_metadata.yaml": "kfp.local imports the gs:// URI without reading it; pipetune "
                                                    "would fetch it, and needs gcsfs for that",
    "artifacts_complex.yaml": "kfp.local cannot collect outputs from a condition a loop iteration skipped",
    "conditional_producer_and_consumers.yaml": "kfp.local cannot collect outputs from a condition a loop "
                                               "iteration skipped",
    "parallel_for_secret.yaml": "kfp.local has no source for Kubernetes Secrets; pipetune reads them from --secrets",
    "pipeline_with_secret_as_volume.yaml": "kfp.local has no source for Kubernetes Secrets; pipetune reads them "
                                           "from --secrets",
}

#: Words in kfp.local's exception that mean it refused the pipeline rather than ran it.
REFUSALS = ("not supported", "NotImplemented", "only supports", "not yet supported", "Unsupported",
            "is not supported", "Input artifacts are not yet supported")


def pipetune(path: Path, case: Case, tmp: Path, timeout: float) -> dict[str, Any]:
    """``pipetune pipeline run`` in a child process: its outcome and every task's record."""
    # --no-cache: kfp.local runs without its cache, and a task pipetune takes from the cache
    # (the same component and inputs earlier in the run) leaves no record of its own here.
    args = [sys.executable, "-m", "pipetune", "--state-dir", str(tmp / "state"), "pipeline", "run", str(path),
            "--no-cache"]
    args += [a for k, v in case.params.items() for a in ("-p", f"{k}={v.replace('{tmp}', str(tmp))}")]
    args += [a for k in case.artifacts for a in ("--artifact", f"{k}={tmp / (k + '.txt')}")]
    if case.secrets:
        args += ["--secrets", str(tmp / "secrets")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugin"), "PIP_TARGET": str(tmp / "pipetune-pip"), **case.env}
    env.pop("PIPETUNE_STATE_DIR", None)
    start = time.monotonic()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "seconds": timeout}
    seconds = time.monotonic() - start
    if done.returncode == 2:
        return {"outcome": "refused", "seconds": seconds, "why": (done.stderr.strip().splitlines() or [""])[-1][:300]}
    from pipetune.store import RunStore

    records = RunStore(tmp / "state").list() if (tmp / "state" / "runs.db").exists() else []
    pipelines = [r for r in records if r.parent_id is None]
    if len(pipelines) != 1:
        return {"outcome": "error", "seconds": seconds,
                "why": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    tasks = [{"task": r.component, "status": r.status, "outputs": r.outputs or {}}
             for r in sorted((r for r in records if r.parent_id), key=lambda r: (r.created_at, r.id))]
    return {"outcome": pipelines[0].status, "seconds": seconds, "why": pipelines[0].message, "tasks": tasks}


def kfp_local(path: Path, case: Case, tmp: Path, timeout: float, python: str) -> dict[str, Any]:
    """kfp.local's SubprocessRunner in a child process of ``python``."""
    params = {k: _typed(v.replace("{tmp}", str(tmp))) for k, v in case.params.items()}
    artifacts = {k: str(tmp / (k + ".txt")) for k in case.artifacts}
    scratch, site = tmp / "kfp-pip", tmp / "kfp-site"
    site.mkdir()
    # The scratch folder goes at the end of every child's sys.path: a task imports what it
    # installed, but the interpreter's own kfp (and the rest) first, as pipetune runs them.
    (site / "sitecustomize.py").write_text(f"import sys\nsys.path.append({str(scratch)!r})\n")
    # Builds without isolation: an isolated build's own pip inherits PIP_TARGET and fails
    # ("Cannot set --home and --prefix together"), so the interpreter needs setuptools, wheel.
    env = {**os.environ, **case.env, "PIP_TARGET": str(scratch), "PYTHONPATH": str(site),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_BUILD_ISOLATION": "0"}
    start = time.monotonic()
    try:
        done = subprocess.run([python, "-c", KFP_LOCAL, str(path), str(tmp / "kfp-root"), json.dumps(params),
                               json.dumps(artifacts)], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout", "seconds": timeout}
    seconds = time.monotonic() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"kfp"')]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {"outcome": "error", "seconds": seconds, "why": tail}
    result: dict[str, Any] = json.loads(lines[-1])
    result["seconds"] = seconds
    # kfp.local logs the cause of a failure (a task's, or its own) as an ERROR line, after the
    # task's own log, whose last exception line says why.
    cause, logged = "", []
    for text in (_plain(line).strip() for line in (done.stdout + done.stderr).splitlines()):
        if " - ERROR - " in text:
            logged.append(text.split(" - ERROR - ", 1)[1] + (f" ({cause})" if cause else ""))
        elif re.match(r"^(\w+\.)*\w*(Error|Exception)\b", text):
            cause = text
    if logged:
        result["error"] = logged[0][:300]
    result["pinned kfp"] = sorted(p.name[len("kfp-"):-len(".dist-info")] for p in scratch.glob("kfp-*.dist-info"))
    result["tasks"] = [{**t, "status": {"SUCCESS": "Succeeded", "FAILURE": "Failed"}.get(t["status"], t["status"])}
                       for t in result["tasks"]]
    return classified(result)


def classified(result: dict[str, Any]) -> dict[str, Any]:
    """kfp.local's ``error`` told apart: a pipeline that ran and failed (a task failed), one
    it refused (an unsupported feature), or another error."""
    why = _plain(result.get("why") or "")
    outcome = result["outcome"]
    if outcome in ("error", "Failed"):
        if any(w in why for w in REFUSALS):
            outcome = "refused"
        elif "finished with status FAILURE" in why or any(t["status"] == "Failed" for t in result.get("tasks") or []):
            outcome = "Failed"
        else:
            outcome = "error"
    return {**result, "outcome": outcome, "why": why}


def _plain(text: str) -> str:
    """``text`` without the terminal colours kfp.local puts in its messages."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _typed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parameters(outputs: dict[str, Any]) -> dict[str, Any]:
    """Output parameters only: artifacts (kfp.local's dicts with a URI, pipetune keeps them in
    its outputs folder) live under each runner's own root."""
    scratch = re.compile(rf"^(file://)?{re.escape(tempfile.gettempdir())}/\S*")
    return {k: scratch.sub("<a path in the runner's folder>", v) if isinstance(v, str) else v
            for k, v in outputs.items()
            if not (isinstance(v, dict) and "uri" in v) and not (isinstance(v, list) and v and isinstance(v[0], dict)
                                                                 and "uri" in v[0])}


def task_view(tasks: list[dict[str, Any]], paths: bool) -> dict[str, list[str]]:
    """Each task name (the last part of pipetune's path: kfp.local names a task by its key in
    its DAG) with the sorted statuses and output parameters of its runs (a loop's
    iterations). ``paths``: each task is named by its full path and recorded once per attempt
    (pipetune: a retried task counts by its last attempt); else each entry is one task run
    (kfp.local, which retries inside one)."""
    runs = list({task["task"]: task for task in tasks}.values()) if paths else tasks
    # An importer runs no program: pipetune records no run for it, kfp.local lists it as a
    # task; its artifact reaches the consumers, whose outputs are compared.
    runs = [task for task in runs if not re.fullmatch(r"importer(-\d+)?", task["task"].rsplit("/", 1)[-1])]
    view: dict[str, list[str]] = defaultdict(list)
    for task in runs:
        name = task["task"].rsplit("/", 1)[-1]
        name = re.sub(r"\[\d+\]$", "", name)
        view[name].append(json.dumps([task["status"], _parameters(task["outputs"])], sort_keys=True, default=str))
    return {name: sorted(entries) for name, entries in sorted(view.items())}


def compare_tasks(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[bool, str]:
    """Whether every task ran with the same status and output parameters in both, and where
    not, the first difference."""
    mine, other = task_view(ours.get("tasks") or [], True), task_view(theirs.get("tasks") or [], False)
    if mine == other:
        return True, ""
    differ = [n for n in mine if n in other and mine[n] != other[n]]
    if differ:
        name = differ[0]
        numbers = all([json.loads(a) for a in mine[n]] == [json.loads(b) for b in other[n]] for n in differ)
        # kfp.local carries a returned list or dict through protobuf, whose numbers are all
        # floats: equal as numbers, different as JSON (and to an int-typed consumer).
        why = "ints arrive as floats in kfp.local (equal as numbers): " if numbers else ""
        return False, f"{why}task {name}: pipetune {mine[name][:2]} kfp.local {other[name][:2]}"[:300]
    only_ours = sorted(set(mine) - set(other))
    only_theirs = sorted(set(other) - set(mine))
    if ours["outcome"] == theirs["outcome"] == "Failed" and not only_theirs:
        # kfp.local ends the whole run at a failed task; pipetune runs on what does not depend
        # on it, as KFP's backend does. Tasks kfp.local never started are no difference.
        return True, f"both failed; kfp.local did not start {', '.join(only_ours[:4])} after its failure"
    return False, f"tasks only in pipetune: {only_ours[:4]}; only in kfp.local: {only_theirs[:4]}"


def random_draw(path: Path) -> bool:
    """The pipeline's Python draws random numbers (its outputs differ run to run)."""
    source = path.with_suffix(".py")
    return source.is_file() and "random" in source.read_text(errors="replace")


def distributions(python: str) -> list[str]:
    """Every distribution ``python`` imports, with its version."""
    code = ("import importlib.metadata as m; print('\\n'.join(sorted(f\"{d.metadata['Name']}=={d.version}\" "
            "for d in m.distributions())))")
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--kfp-python", default=sys.executable,
                        help="the interpreter kfp.local runs in, and its tasks (default: this one)")
    parser.add_argument("--journal", type=Path,
                        help="judge and print the results of an earlier run (its .jsonl) instead of running")
    options = parser.parse_args()
    if options.journal:
        rows = {}
        for text in options.journal.read_text().splitlines():
            saved = json.loads(text)
            rows[saved["name"]] = judge(FIXTURES / saved["name"], saved["pipetune"], classified(saved["kfp.local"]))
        report(rows)
        summary(rows, "", [], [])
        return
    before = distributions(options.kfp_python)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    journal = (out / "kfp_local_compare.jsonl").open("w")
    print(HEADER)
    for name in sorted(CASES):
        if options.only and not any(o in name for o in options.only):
            continue
        case = CASES[name]
        if case.outcome == "long":
            continue
        with tempfile.TemporaryDirectory() as folder:
            # Each runner its own folder: a pipeline's files ({tmp} in its parameters, such
            # as a retry counter) must not carry from one runner to the other.
            ours = pipetune(FIXTURES / name, case, prepared(Path(folder) / "pipetune", case), options.timeout)
            theirs = kfp_local(FIXTURES / name, case, prepared(Path(folder) / "kfp", case), options.timeout,
                               options.kfp_python)
        row = judge(FIXTURES / name, ours, theirs)
        rows[name] = row
        journal.write(json.dumps({"name": name, **row}, default=str) + "\n")
        journal.flush()
        print(line(name, row), flush=True)
    journal.close()
    (out / "kfp_local_compare.json").write_text(json.dumps(rows, indent=1, default=str))
    after = distributions(options.kfp_python)
    summary(rows, options.kfp_python, before, after)


def prepared(tmp: Path, case: Case) -> Path:
    """``tmp`` with the case's input artifacts and the Secrets' files."""
    tmp.mkdir(parents=True)
    for key, text in case.artifacts.items():
        (tmp / f"{key}.txt").write_text(text)
    for secret, keys in SECRETS.items():
        (tmp / "secrets" / secret).mkdir(parents=True, exist_ok=True)
        for key, text in keys.items():
            (tmp / "secrets" / secret / key).write_text(text)
    return tmp


def judge(path: Path, ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """One file's row: both results, whether their tasks agree (None where they can't be
    compared: not both ran it to the same end) and why not."""
    row: dict[str, Any] = {"pipetune": ours, "kfp.local": theirs, "same": None, "differs": ""}
    ran = ("Succeeded", "Failed")
    if ours["outcome"] in ran and theirs["outcome"] in ran:
        same, why = compare_tasks(ours, theirs)
        if ours["outcome"] != theirs["outcome"]:
            failed = ours if ours["outcome"] == "Failed" else theirs
            same, why = False, (f"pipetune {ours['outcome']}, kfp.local {theirs['outcome']}: "
                                f"{failed.get('error') or failed.get('why') or ''}")
        if not same and random_draw(path):
            # Not judged: each runner drew its own numbers (tests/pipeline checks pipetune took
            # the branch its draw selects).
            same, why = "drawn", f"draws random numbers: {why}"
        row.update(same=same, differs=f"{why}{'; ' if why and path.name in NOTES else ''}{NOTES.get(path.name, '')}")
    else:
        reasons = [f"{who}: {_reason(result)}" for who, result in (("pipetune", ours), ("kfp.local", theirs))
                   if result["outcome"] not in ran or result is theirs and ours["outcome"] not in ran]
        row["differs"] = "; ".join(reasons)
    return row


def _reason(result: dict[str, Any]) -> str:
    """Why a runner did not run a file, or how it ended: its message, less pipetune's
    ``pipetune: error: FILE:`` prefix."""
    text = result.get("error") if result["outcome"] == "Failed" and result.get("error") else result.get("why")
    text = re.sub(r"^pipetune: error: \S+: ", "", str(text or result["outcome"]))
    return _short(text)


def _short(text: Any, limit: int = 150) -> str:
    return re.sub(r"\s+", " ", str(text or "")).replace("|", "/")[:limit]


HEADER = "| pipeline | pipetune | s | kfp.local | s | same outputs | where they differ |\n|---|---|---:|---|---:|---|---|"


def report(rows: dict[str, dict[str, Any]]) -> None:
    print(HEADER)
    for name, row in rows.items():
        print(line(name, row))


def line(name: str, row: dict[str, Any]) -> str:
    ours, theirs = row["pipetune"], row["kfp.local"]
    same = {None: "", True: "yes", False: "no", "drawn": "drawn"}[row["same"]]
    return (f"| {name} | {ours['outcome']} | {ours.get('seconds', 0):.1f} | {theirs['outcome']} | "
            f"{theirs.get('seconds', 0):.1f} | {same} | {_short(row['differs'], 300)} |")


def summary(rows: dict[str, dict[str, Any]], python: str, before: list[str], after: list[str]) -> None:
    kfp_versions = sorted({r["kfp.local"].get("kfp") for r in rows.values() if r["kfp.local"].get("kfp")})
    pinned = sorted({v for r in rows.values() for v in r["kfp.local"].get("pinned kfp") or []})
    both = [n for n, r in rows.items() if r["same"] is not None]
    ran = ("Succeeded", "Failed")
    only_ours = [n for n, r in rows.items() if r["pipetune"]["outcome"] in ran and r["kfp.local"]["outcome"] not in ran]
    only_theirs = [n for n, r in rows.items() if r["kfp.local"]["outcome"] == "Succeeded"
                   and r["pipetune"]["outcome"] not in ran]
    failed_theirs = [n for n, r in rows.items() if r["kfp.local"]["outcome"] == "Failed"
                     and r["pipetune"]["outcome"] not in ran]
    changed = sorted(set(before) ^ set(after))
    print(f"\n{len(rows)} files; kfp {', '.join(kfp_versions) or '?'}{f' ({python})' if python else ''}, kfp.local "
          f"and its tasks; the "
          f"components' pins it pip-installed behind it: kfp {', '.join(pinned) or 'none'}; Python {sys.version.split()[0]}")
    drawn = sum(rows[n]["same"] == "drawn" for n in both)
    print(f"both ran {len(both)}: every task's status and output parameters the same in "
          f"{sum(rows[n]['same'] is True for n in both)}, different draws of random numbers in {drawn}, "
          f"different in {sum(rows[n]['same'] is False for n in both)}")
    print(f"pipetune runs {len(only_ours)} that kfp.local does not; of those pipetune refuses, kfp.local runs "
          f"{len(failed_theirs)} to a failure and {len(only_theirs)} to success: {', '.join(only_theirs) or 'none'}")
    if before:
        print(f"kfp.local's interpreter: {'unchanged' if not changed else 'CHANGED: ' + ', '.join(changed)}")


if __name__ == "__main__":
    main()
