"""pipetune pipeline run side by side with kfp.local's SubprocessRunner over KFP's compiled
test pipelines (../shared/fixtures/kfp-compiled): for each file, what each runner does
(succeeded, failed, refused before running) and, where both run it, whether the pipeline's
own outputs agree.

    python bench/kfp_local_compare.py [--only SUBSTRING ...] [--timeout 120]

The table goes to stdout, the details to bench/out/kfp_local_compare.json. Each run is a
fresh subprocess with its own state directory (pipetune) or pipeline root (kfp.local), with
the same parameters (tests/pipeline/kfp_compiled_cases.py) for both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "kfp-compiled"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "plugin"))

from pipeline.kfp_compiled_cases import CASES, SECRETS  # noqa: E402

#: kfp.local in a child process: load the compiled file as a component, call it, print the
#: outcome as one JSON line.
KFP_LOCAL = r"""
import json, sys
from kfp import components, local
path, root, params, artifacts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root, raise_on_error=True)
try:
    pipeline = components.load_component_from_file(path)
    from kfp import dsl
    for name, uri in artifacts.items():
        params[name] = dsl.Artifact(uri=uri)
    task = pipeline(**params)
except Exception as exc:
    print(json.dumps({"outcome": "error", "why": f"{type(exc).__name__}: {exc}"[:300]}))
    sys.exit(0)
outputs = {}
for name, value in (task.outputs or {}).items():
    outputs[name] = value if isinstance(value, (str, int, float, bool, list, dict)) or value is None else \
        getattr(value, "uri", str(value))
print(json.dumps({"outcome": "Succeeded", "outputs": outputs}, default=str))
"""


def pipetune(path: Path, case, tmp: Path, timeout: float) -> dict:
    args = [sys.executable, "-m", "pipetune", "--state-dir", str(tmp / "state"), "pipeline", "run", str(path)]
    args += [a for k, v in case.params.items() for a in ("-p", f"{k}={v.replace('{tmp}', str(tmp))}")]
    args += [a for k in case.artifacts for a in ("--artifact", f"{k}={tmp / (k + '.txt')}")]
    if case.secrets:
        args += ["--secrets", str(tmp / "secrets")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugin"), **case.env}
    env.pop("PIPETUNE_STATE_DIR", None)
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout"}
    if done.returncode == 2:
        return {"outcome": "refused", "why": done.stderr.strip().splitlines()[-1][:300]}
    from pipetune.store import RunStore

    (pipeline,) = [r for r in RunStore(tmp / "state").list() if r.parent_id is None]
    return {"outcome": pipeline.status, "outputs": pipeline.outputs or {}, "why": pipeline.message}


def kfp_local(path: Path, case, tmp: Path, timeout: float) -> dict:
    params = {k: _typed(v.replace("{tmp}", str(tmp))) for k, v in case.params.items()}
    artifacts = {k: str(tmp / (k + ".txt")) for k in case.artifacts}
    env = {**os.environ, **case.env}
    try:
        done = subprocess.run([sys.executable, "-c", KFP_LOCAL, str(path), str(tmp / "kfp-root"), json.dumps(params),
                               json.dumps(artifacts)], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"outcome": "timeout"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"outcome": "error", "why": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    result = json.loads(lines[-1])
    if result["outcome"] == "error":
        why = result["why"]
        result["outcome"] = "refused" if any(w in why for w in ("not supported", "NotImplemented", "only supports",
                                                                  "not yet supported", "Unsupported")) else "Failed"
    return result


def _typed(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def same(a: dict, b: dict) -> bool:
    """Outputs agree, artifact URIs aside (each runner has its own root)."""
    def plain(values: dict) -> dict:
        return {k: v for k, v in values.items() if not (isinstance(v, str) and v.startswith("/"))}
    return plain(a.get("outputs") or {}) == plain(b.get("outputs") or {})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--timeout", type=float, default=120)
    options = parser.parse_args()
    rows = {}
    for name in sorted(CASES):
        if options.only and not any(o in name for o in options.only):
            continue
        case = CASES[name]
        if case.outcome == "long":
            continue
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            for key, text in case.artifacts.items():
                (tmp / f"{key}.txt").write_text(text)
            for secret, keys in SECRETS.items():
                (tmp / "secrets" / secret).mkdir(parents=True, exist_ok=True)
                for key, text in keys.items():
                    (tmp / "secrets" / secret / key).write_text(text)
            ours = pipetune(FIXTURES / name, case, tmp, options.timeout)
            theirs = kfp_local(FIXTURES / name, case, tmp, options.timeout)
        agree = same(ours, theirs) if ours["outcome"] == theirs["outcome"] == "Succeeded" else None
        rows[name] = {"pipetune": ours, "kfp.local": theirs, "outputs agree": agree}
        print(f"| {name} | {ours['outcome']} | {theirs['outcome']} | {'' if agree is None else agree} |", flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "kfp_local_compare.json").write_text(json.dumps(rows, indent=1, default=str))
    both = [n for n, r in rows.items() if r["outputs agree"] is not None]
    only_ours = [n for n, r in rows.items() if r["pipetune"]["outcome"] in ("Succeeded", "Failed")
                 and r["kfp.local"]["outcome"] not in ("Succeeded", "Failed")]
    print(f"\nboth ran {len(both)}, outputs agree in {sum(rows[n]['outputs agree'] for n in both)}; "
          f"pipetune runs {len(only_ours)} that kfp.local does not:")
    for name in only_ours:
        print(f"- {name}: kfp.local: {rows[name]['kfp.local'].get('why', rows[name]['kfp.local']['outcome'])}")


if __name__ == "__main__":
    main()
