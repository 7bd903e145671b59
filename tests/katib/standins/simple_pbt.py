"""A stand-in for Katib's simple-pbt trial image (``pbt_test.py``): the same arguments and its
stdout, ``epoch N:`` / ``lr=X`` / ``Validation-accuracy=Y`` per epoch (the checkpoint it would
keep is not written). The accuracy is a pure function of the arguments (``accuracy``)."""

from __future__ import annotations

import argparse


def accuracy(lr: float, epoch: int) -> float:
    return min(0.95, 0.5 + 0.02 * epoch + lr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.0001)
    parser.add_argument("--checkpoint", default="/var/log/katib/checkpoints/")
    args, _ = parser.parse_known_args()
    for epoch in range(args.epochs):
        print(f"epoch {epoch}:\nlr={args.lr:0.4f}\nValidation-accuracy={accuracy(args.lr, epoch):0.4f}", flush=True)


if __name__ == "__main__":
    main()
