"""``pipetune pipeline run``: a compiled KFP pipeline or a Tekton PipelineRun on this machine."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pipetune.cli._common import parse_inputs
from pipetune.cli._signals import sigterm_interrupts
from pipetune.engines.local import LocalEngine
from pipetune.errors import UsageError
from pipetune.pipeline import (
    Sources,
    TektonSteps,
    any_tekton,
    bind_artifacts,
    bind_parameters,
    bind_tekton_parameters,
    kfp_plan,
    run_plan,
    run_steps,
    tekton_plans,
)
from pipetune.store import RunStore
from pipetune.yamlsafe import load_yaml_documents, load_yaml_file


def run(args: argparse.Namespace) -> int:
    """Run every task in DAG order; 0 when the pipeline succeeded, else 1."""
    if args.parallel < 1:
        raise UsageError(f"--parallel: expected at least 1, got {args.parallel}")
    path = Path(args.file)
    given = parse_inputs(args.param)
    store, engine = RunStore(args.state_dir), LocalEngine()
    own = [] if path.is_dir() else load_yaml_documents(path)
    if path.is_dir() or any_tekton(own):
        return _run_tekton(path, own, args, given, store, engine)
    plan = kfp_plan(load_yaml_file(path, first=True), str(path), own[1] if len(own) > 1 else None)
    values, artifacts = bind_parameters(plan, given), bind_artifacts(plan, parse_inputs(args.artifact))
    sources = Sources(_folder(args.secrets, "PIPETUNE_SECRETS", "--secrets"),
                      _folder(args.config_maps, "PIPETUNE_CONFIG_MAPS", "--config-maps"), cache=not args.no_cache)
    with sigterm_interrupts():
        result = run_plan(plan, values, store, engine, parallel=args.parallel, artifacts=artifacts,
                          sources=sources)
    return 0 if result.succeeded else 1


def _folder(given: str | None, env: str, flag: str) -> Path | None:
    """A folder from a flag or, without it, the environment; ``UsageError`` if it is not one."""
    value = given if given is not None else os.environ.get(env)
    if not value:
        return None
    folder = Path(value)
    if not folder.is_dir():
        raise UsageError(f"{flag if given is not None else env}: {value} is not a folder")
    return folder


def _tekton_files(path: Path) -> list[Path]:
    """A file, or a directory's YAML files (sorted), for -f."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def _run_tekton(path: Path, own: list[Any], args: argparse.Namespace, given: dict[str, str], store: RunStore,
                engine: LocalEngine) -> int:
    """Every PipelineRun and TaskRun among the files, one after another, each refused before
    any runs when it can't run here; 0 when every one succeeded."""
    documents = list(own) if not path.is_dir() else []
    for extra in ([path] if path.is_dir() else []) + [Path(f) for f in args.file_extra]:
        for file in _tekton_files(extra):
            documents += load_yaml_documents(file)
    plans = tekton_plans(documents, str(path))
    if given and len(plans) > 1:
        raise UsageError(f"{path}: -p applies to one run; the files hold {len(plans)}")
    prepared = []
    for plan in plans:
        steps = TektonSteps(plan, bind_tekton_parameters(plan, given))
        steps.check()
        prepared.append(steps)
    failed = 0
    with sigterm_interrupts():
        for steps in prepared:
            for note in steps.plan.notes:
                print(f"note: {note}", file=sys.stderr, flush=True)
            result = run_steps(steps.plan.pipeline_name, steps, steps.values, store, engine, parallel=args.parallel)
            failed += not result.succeeded
    return 1 if failed else 0
