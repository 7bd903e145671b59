"""``pipetune pipeline run``: a compiled KFP pipeline or a Tekton PipelineRun on this machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipetune.cli._common import parse_inputs
from pipetune.cli._signals import sigterm_interrupts
from pipetune.engines.local import LocalEngine
from pipetune.errors import UsageError
from pipetune.pipeline import (
    Sources,
    TektonSteps,
    bind_artifacts,
    bind_parameters,
    bind_tekton_parameters,
    is_tekton,
    kfp_plan,
    run_plan,
    run_steps,
    tekton_plan,
)
from pipetune.store import RunStore
from pipetune.yamlsafe import load_yaml_documents, load_yaml_file


def run(args: argparse.Namespace) -> int:
    """Run every task in DAG order; 0 when the pipeline succeeded, else 1."""
    if args.parallel < 1:
        raise UsageError(f"--parallel: expected at least 1, got {args.parallel}")
    path = Path(args.file)
    document = load_yaml_file(path, first=True)
    given = parse_inputs(args.param)
    store, engine = RunStore(args.state_dir), LocalEngine()
    if is_tekton(document):
        documents = [d for file in [path, *args.file_extra] for d in load_yaml_documents(Path(file))]
        tekton = tekton_plan(documents, str(path))
        values = bind_tekton_parameters(tekton, given)
        with sigterm_interrupts():
            result = run_steps(tekton.name, TektonSteps(tekton, values), values, store, engine, parallel=args.parallel)
    else:
        documents = load_yaml_documents(path)
        plan = kfp_plan(document, str(path), documents[1] if len(documents) > 1 else None)
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
