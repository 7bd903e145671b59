"""``pipetune pipeline run``: a compiled KFP pipeline or a Tekton PipelineRun on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipetune.cli._common import parse_inputs
from pipetune.cli._signals import sigterm_interrupts
from pipetune.engines.local import LocalEngine
from pipetune.errors import UsageError
from pipetune.pipeline import (
    TektonSteps,
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
        plan = kfp_plan(document, str(path))
        with sigterm_interrupts():
            result = run_plan(plan, bind_parameters(plan, given), store, engine, parallel=args.parallel)
    return 0 if result.succeeded else 1
