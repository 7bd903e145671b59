"""``pipetune plot``: an experiment's views as PNG (or HTML) files."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipetune.cli._common import short_path
from pipetune.errors import UsageError
from pipetune.plots import plot_experiment
from pipetune.store import RunQuery, RunRecord, RunStore
from pipetune.tracking import EXPERIMENT_PREFIX, experiment_view, find_experiment, trial_curves
from pipetune.tuner.journal import JOURNAL_FILE


def plot(args: argparse.Namespace) -> int:
    """Draw the views; prints each file written."""
    store = RunStore(args.state_dir)
    target = Path(args.experiment_dir)
    curves: dict[int, list[tuple[float, float]]] = {}
    if target.is_dir() or "/" in args.experiment_dir:
        directory = target
        # Intermediate values from the trials' results, when this store holds the experiment.
        record = next((r for r in _experiment_runs(store) if r.outputs_dir and _same(r.outputs_dir, directory)), None)
        if record is not None:
            curves = trial_curves(experiment_view(record), store)
    else:
        try:
            view = find_experiment(store, args.experiment_dir)
        except UsageError:
            raise UsageError(
                f"{args.experiment_dir}: no {JOURNAL_FILE}; expected an experiment directory, or the name or "
                f"run id of an experiment in {store.state_dir}"
            ) from None
        if view.directory is None:
            raise UsageError(f"experiment {view.name}: no directory recorded")
        directory = view.directory
        curves = trial_curves(view, store)
    for path in plot_experiment(directory, args.out, html=args.html, curves=curves):
        print(short_path(str(path)))
    return 0


def _experiment_runs(store: RunStore) -> list[RunRecord]:
    return store.query(RunQuery(component=EXPERIMENT_PREFIX + "*", top_level=True))


def _same(recorded: str, directory: Path) -> bool:
    try:
        return Path(recorded).resolve() == directory.resolve()
    except OSError:
        return False
