"""The bridge step: build the job, run it on an engine, return the training's results.

``run_bridge`` is what ``components/pytorchjob``, ``tfjob`` and ``trainjob`` run. On a cluster
(``--engine kubernetes``, or ``auto`` inside a pod) the job is created through the Kubernetes
engine, its condition changes and the primary replica's log are printed, and its results are
the primary pod's; locally the local engine runs one process per replica. Either way the
results become this step's own results.yaml. SIGTERM (a cancelled pipeline) deletes the job.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipetune.bridges._build import JobParameters, build_job
from pipetune.catalog import component_file
from pipetune.components import ComponentSpec, ContainerSpec
from pipetune.contract import outputs_dir, parse_args, write_results
from pipetune.engines.base import Phase, ResourceRequest, RunRequest
from pipetune.engines.select import current_namespace, open_engine
from pipetune.errors import PipetuneError, RunError, UsageError
from pipetune.signals import interrupts_deferred

#: Parameters of ``args`` that are not part of the job itself (not hashed into its name).
_STEP_ONLY = {"timeout", "delete_after_done", "engine", "job", "name", "namespace"}


def parameters_from_args(kind: str, args: Mapping[str, Any]) -> JobParameters:
    """The job's parameters from the step's typed arguments (``parse_args``)."""
    if kind == "PyTorchJob":
        replicas = {"Master": 1, "Worker": int(args["workers"])}
    elif kind == "TFJob":
        replicas = {"Chief": int(args["chief"]), "Worker": int(args["workers"]),
                    "PS": int(args["ps"]), "Evaluator": int(args["evaluators"])}
    else:
        replicas = {"node": int(args["num_nodes"])}
    env = args.get("env") or {}
    if not all(isinstance(v, (str, int, float, bool)) for v in env.values()):
        raise UsageError("--env: expected a JSON object of strings")

    def optional(name: str) -> int | None:
        value = args.get(name, -1)
        return None if value is None or value < 0 else int(value)

    return JobParameters(
        name=str(args.get("name") or "") or job_name(kind, args),
        namespace=str(args.get("namespace") or "") or current_namespace(),
        image=str(args["image"]),
        command=[str(x) for x in args.get("command") or []],
        args=[str(x) for x in args.get("args") or []],
        env={k: str(v) for k, v in env.items()},
        replicas=replicas,
        cpu=str(args.get("cpu") or "") or None,
        memory=str(args.get("memory") or "") or None,
        gpus=int(args.get("gpus") or 0),
        volumes=list(args.get("volumes") or []),
        volume_mounts=list(args.get("volume_mounts") or []),
        clean_pod_policy=str(args.get("clean_pod_policy") or "") or None,
        ttl_seconds_after_finished=optional("ttl_seconds_after_finished"),
        active_deadline_seconds=optional("active_deadline_seconds"),
        backoff_limit=optional("backoff_limit"),
        nproc_per_node=str(args.get("nproc_per_node") or "") or None,
        runtime=str(args.get("runtime") or "torch-distributed"),
        checkpoints=str(args.get("checkpoints") or "") or None,
    )


def job_name(kind: str, args: Mapping[str, Any]) -> str:
    """``<kind>-<digest of the job's parameters>``: the same step re-run after a crash gets
    the same name, and adopts its job instead of starting a second one."""
    job = {k: v for k, v in sorted(args.items()) if k not in _STEP_ONLY}
    digest = hashlib.sha256(json.dumps(job, sort_keys=True, default=str).encode()).hexdigest()
    return f"{kind.lower()}-{digest[:10]}"


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def run_bridge(kind: str, args: Mapping[str, Any]) -> int:
    """Run the step; the exit status (0, 1 for a failed job, 128+N after signal N)."""
    parameters = parameters_from_args(kind, args)
    manifest = build_job(kind, parameters)
    where = f"{kind} {parameters.namespace}/{parameters.name}"
    engine = open_engine(str(args.get("engine") or "auto"), parameters.namespace)
    outputs = outputs_dir()
    # Locally the replicas' own outputs go beside this step's results, not over them.
    run_dir = outputs / "training" if engine.name == "local" else outputs
    timeout = float(args.get("timeout") or 0) or None
    request = RunRequest(
        run_id=parameters.name,
        component=ComponentSpec(name=parameters.name, container=ContainerSpec(image=parameters.image)),
        arguments={},
        outputs_dir=run_dir / "outputs",
        timeout=timeout,
        resource=ResourceRequest(manifest, retain=not bool(args.get("delete_after_done", True))),
    )

    def stop(signum: int, _frame: object) -> None:
        raise _Stop(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    handle = None
    try:
        print(f"{kind} {parameters.name}: starting on the {engine.name} engine", file=sys.stderr, flush=True)
        # A signal while the job is being created waits until its handle is known, so the
        # cancel below deletes the job rather than leaving it running.
        with interrupts_deferred():
            handle = engine.submit(request)
        status = engine.wait(handle)
    except _Stop as interrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if handle is not None:
            engine.cancel(handle)
        print(f"{where}: cancelled by {signal.Signals(interrupt.signum).name}; the job was deleted",
              file=sys.stderr)
        return 128 + interrupt.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.close()
    if args.get("job"):
        Path(args["job"]).parent.mkdir(parents=True, exist_ok=True)
        Path(args["job"]).write_text(f"{kind.lower()}/{parameters.namespace}/{parameters.name}\n")
    if status.phase is not Phase.SUCCEEDED:
        raise RunError(f"{where} {status.phase.value} ({status.reason}): {status.message}")
    results = engine.results(handle)
    if results is None:
        print(f"{where}: succeeded, and its primary replica reported no results", file=sys.stderr)
        return 0
    if run_dir != outputs:
        # Relative artifact paths are relative to the primary replica's outputs directory.
        prefix = run_dir.relative_to(outputs) / "outputs"
        results = replace(results, artifacts={
            name: ref if "://" in ref or ref.startswith("/") else f"{prefix}/{ref}"
            for name, ref in results.artifacts.items()
        })
    write_results(results, outputs)
    took = status.duration
    print(f"{where}: Succeeded" + (f" in {took:.1f}s" if took else "") + "; metrics "
          + ", ".join(f"{k}={v:g}" for k, v in results.metrics.items()), file=sys.stderr)
    return 0


def main(kind: str, component: str, argv: list[str] | None = None) -> None:
    """The entrypoint of a bridge component: exit 2 on bad parameters, 1 on a failed job."""
    args = vars(parse_args(component_file(component), argv))
    try:
        code = run_bridge(kind, args)
    except PipetuneError as exc:
        print(f"{component}: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code)



