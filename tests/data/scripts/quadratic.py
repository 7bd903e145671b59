"""A fast trial for tuner tests: loss = (x - 0.3)^2 + (y - 0.7)^2, reported over a few steps.

--x, --y: the point; --steps: how many reports; --sleep: seconds per step;
--fail-above X: exit 1 when x > X (to make failing trials);
--gate DIR --free N: each trial takes the next ticket in DIR; those past the first N wait until
DIR holds a file named ``open`` (a test holds the experiment unfinished, however fast it runs).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import pipetune

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--y", type=float, required=True)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--fail-above", type=float)
parser.add_argument("--gate")
parser.add_argument("--free", type=int, default=0)
args = parser.parse_args()

if args.gate:
    gate, ticket = Path(args.gate), 0
    while True:
        try:
            os.close(os.open(gate / f"ticket-{ticket}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            ticket += 1
    while ticket >= args.free and not (gate / "open").exists():
        time.sleep(0.02)

if args.fail_above is not None and args.x > args.fail_above:
    print(f"x={args.x} is too large", file=sys.stderr)
    sys.exit(1)
loss = (args.x - 0.3) ** 2 + (args.y - 0.7) ** 2
for step in range(1, args.steps + 1):
    time.sleep(args.sleep)
    # The loss falls towards its final value, so a curve exists for early stopping.
    pipetune.report(step=step, loss=loss + (args.steps - step) * 0.1)
pipetune.save_results(metrics={"loss": loss})
