"""``pipetune plot``: an experiment's history and parameters as PNG files."""

from __future__ import annotations

import argparse

from pipetune.cli._common import short_path
from pipetune.plots import plot_experiment


def plot(args: argparse.Namespace) -> int:
    """Draw the plots; prints each file written."""
    for path in plot_experiment(args.experiment_dir, args.out):
        print(short_path(str(path)))
    return 0
