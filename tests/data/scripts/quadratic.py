"""A fast trial for tuner tests: loss = (x - 0.3)^2 + (y - 0.7)^2, reported over a few steps.

--x, --y: the point; --steps: how many reports; --sleep: seconds per step;
--fail-above X: exit 1 when x > X (to make failing trials).
"""

import argparse
import sys
import time

import pipetune

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--y", type=float, required=True)
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--fail-above", type=float)
args = parser.parse_args()

if args.fail_above is not None and args.x > args.fail_above:
    print(f"x={args.x} is too large", file=sys.stderr)
    sys.exit(1)
loss = (args.x - 0.3) ** 2 + (args.y - 0.7) ** 2
for step in range(1, args.steps + 1):
    time.sleep(args.sleep)
    # The loss falls towards its final value, so a curve exists for early stopping.
    pipetune.report(step=step, loss=loss + (args.steps - step) * 0.1)
pipetune.save_results(metrics={"loss": loss})
