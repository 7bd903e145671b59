"""tune: the tuner as a catalog component. Experiment in, best parameters out."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipetune.atomic import atomic_write_text
from pipetune.catalog import component_file
from pipetune.contract import artifact_ref, outputs_dir, parse_args, read_results, save_results
from pipetune.engines.select import current_namespace, engine_name, open_engine
from pipetune.errors import PipetuneError
from pipetune.experiment import experiment_from_dict
from pipetune.kinds import EXPERIMENT_LABEL
from pipetune.store import RunStore
from pipetune.tuner import pareto
from pipetune.tuner.display import failure_notes, progress_line, trials_table
from pipetune.tuner.loop import Progress
from pipetune.tuner.session import Session
from pipetune.yamlsafe import load_yaml_text


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(component_file("tune"), argv)
    try:
        code = _tune(args)
    except PipetuneError as exc:
        print(f"tune: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(code)


def _tune(args: Any) -> int:
    source = "input 'experiment'"
    experiment = experiment_from_dict(load_yaml_text(args.experiment, source), source)
    namespace = experiment.namespace or current_namespace()
    local = engine_name(args.engine) == "local"
    # Checked before the engine connects to anything.
    session = Session.for_experiment(experiment, local=local, seed=args.seed, namespace=namespace)
    outputs = outputs_dir()
    # The step's own outputs directory holds the run store and the experiment, so a retried
    # step resumes its experiment instead of starting again.
    store = RunStore(outputs / "state")
    directory = outputs / "experiment"
    last = [""]

    def show(progress: Progress) -> None:
        line = progress_line(progress)
        if line != last[0] and "started" not in progress.event:
            print(f"tune: {line}", flush=True)
            last[0] = line

    engine = open_engine(args.engine, namespace, {EXPERIMENT_LABEL: experiment.name})
    try:
        result = session.tuner(engine, store, directory, progress=show).run()
    finally:
        engine.close()
    print(trials_table(result.trials, result.objective, result.best), flush=True)
    for note in failure_notes(result.trials):
        print(note, flush=True)
    tuner = read_results(directory)
    trials_file = directory / "trials.json"
    if args.trials:
        target = Path(args.trials)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(trials_file, target)
    if args.best_parameters:
        atomic_write_text(args.best_parameters, json.dumps(result.best_parameters or {}, sort_keys=True))
    if args.best_objective and result.best_objective is not None:
        atomic_write_text(args.best_objective, repr(float(result.best_objective)))
    if args.pareto_front:
        front = pareto.front_rows(result.trials, result.objective) if result.objective.multi else []
        rows = [{k: row[k] for k in ("trial", "parameters", "values")} for row in front]
        atomic_write_text(args.pareto_front, json.dumps(rows, sort_keys=True))
    save_results(
        metrics=tuner.metrics,
        outputs={**tuner.outputs, "best_parameters": result.best_parameters or {}},
        artifacts={"trials": artifact_ref(args.trials or trials_file)},
    )
    print(f"tune: {result.state.status} ({result.state.reason}): {result.state.message}", flush=True)
    return 0 if result.state.status == "Succeeded" else 1


if __name__ == "__main__":
    main()
