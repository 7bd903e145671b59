"""A stand-in for Katib's simple-pbt trial (its image can't run here): a model whose
validation accuracy climbs each epoch at a rate set by the learning rate (best near 0.01).

It resumes from ``pipetune.resume_from()`` (its parent's checkpoint under population-based
training), trains ``--epochs`` more epochs, checkpoints after each one with
``pipetune.checkpoint``, and prints Katib's StdOut lines ``Validation-accuracy=<value>``.
``--checkpoint`` is accepted for the Katib command line and not used: pipetune hands the
checkpoint over through ``PIPETUNE_RESUME_FROM``.
"""

from __future__ import annotations

import argparse
import json
import math

import pipetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--checkpoint", default=None)
    args = parser.parse_args()
    step, accuracy = 0, 0.1
    resumed = pipetune.resume_from()
    if resumed is not None:
        state = json.loads((resumed / "state.json").read_text())
        step, accuracy = state["step"], state["accuracy"]
        print(f"resuming from step {step} (accuracy {accuracy:.4f})", flush=True)
    rate = 0.25 * math.exp(-((math.log10(args.lr) + 2.0) ** 2) / 0.3)
    for _ in range(args.epochs):
        step += 1
        accuracy += rate * (1.0 - accuracy)
        print(f"epoch {step}: Validation-accuracy={accuracy:.6f}", flush=True)
        with pipetune.checkpoint(step=step, kind="training", metrics={"accuracy": accuracy}) as directory:
            (directory / "state.json").write_text(json.dumps({"step": step, "accuracy": accuracy}))


if __name__ == "__main__":
    main()
