"""A stand-in for Katib's pytorch-mnist trial image (examples/v1beta1/trial-images/pytorch-mnist):
the same arguments, the same output, in the same places, without the training.

Like the image: Python ``logging`` with Katib's format to stderr (or to ``--log-path`` with
``--logger standard``), a ``Train Epoch: ... loss=X`` line per logged batch, a
``{metricName: accuracy, metricValue: A};{metricName: loss, metricValue: L}`` line per epoch, and,
with ``--logger hypertune``, cloudml-hypertune's JSON lines (values as strings) in
``$CLOUD_ML_HP_METRIC_FILE`` (the image sets it to ``--log-path``).

The numbers are a pure function of the arguments (``curve`` below), so a test knows what
Katib would have read. ``--standin-bad-above X``: a trial with ``lr > X`` does worse at every
step and then keeps running (up to ``--standin-linger`` seconds), as a slow bad trial does, so
an early-stopping rule has it to stop; every other trial reports the same curve.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

BATCHES_LOGGED = 5  # "Train Epoch" lines per epoch


def curve(lr: float, momentum: float, epoch: int, batch: int, bad_above: float | None) -> float:
    """The training loss a trial logs at ``batch`` of ``epoch`` (both from 0)."""
    index = epoch * BATCHES_LOGGED + batch
    if bad_above is None:
        return (1.0 + 10 * abs(lr - 0.03) + abs(momentum - 0.7)) / (index + 1)
    if lr > bad_above:
        return 3.0 + 1.0 / (index + 1)
    return 1.0 / (index + 1)


def test_metrics(lr: float, momentum: float, epoch: int, bad_above: float | None) -> tuple[float, float]:
    """The test accuracy and loss a trial logs after ``epoch``."""
    loss = curve(lr, momentum, epoch, BATCHES_LOGGED - 1, bad_above)
    return 1.0 / (1.0 + loss), loss


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.5)
    parser.add_argument("--log-path", default="")
    parser.add_argument("--logger", default="standard", choices=["standard", "hypertune"])
    parser.add_argument("--standin-bad-above", type=float)
    parser.add_argument("--standin-linger", type=float, default=20.0)
    args, _ = parser.parse_known_args(argv)
    return args


def messages(args: argparse.Namespace) -> list[str]:
    """What the image logs, in order (each a logging message, before its format)."""
    out = []
    for epoch in range(args.epochs):
        for batch in range(BATCHES_LOGGED):
            loss = curve(args.lr, args.momentum, epoch, batch, args.standin_bad_above)
            out.append(f"Train Epoch: {epoch + 1} [{batch * 10 * args.batch_size}/60000 "
                       f"({100.0 * batch / BATCHES_LOGGED:.0f}%)]\tloss={loss:.4f}")
        accuracy, test_loss = test_metrics(args.lr, args.momentum, epoch, args.standin_bad_above)
        out.append(f"{{metricName: accuracy, metricValue: {accuracy:.4f}}};"
                   f"{{metricName: loss, metricValue: {test_loss:.4f}}}\n")
    return out


def hypertune_reports(args: argparse.Namespace) -> list[tuple[str, float, int]]:
    """What the image reports through cloudml-hypertune with ``--logger hypertune``."""
    out = []
    for epoch in range(args.epochs):
        accuracy, test_loss = test_metrics(args.lr, args.momentum, epoch, args.standin_bad_above)
        out += [("loss", test_loss, epoch + 1), ("accuracy", accuracy, epoch + 1)]
    return out


def main() -> None:
    args = parse()
    outputs = os.environ.get("PIPETUNE_OUTPUTS")
    if outputs:  # for the test: the arguments this trial got
        os.makedirs(outputs, exist_ok=True)
        with open(os.path.join(outputs, "standin-args.json"), "w") as file:
            json.dump(vars(args), file)
    # As the image: stderr, unless a log file with the standard logger.
    options = {"format": "%(asctime)s %(levelname)-8s %(message)s", "datefmt": "%Y-%m-%dT%H:%M:%SZ",
               "level": logging.DEBUG}
    if args.log_path and args.logger == "standard":
        options["filename"] = args.log_path
    logging.basicConfig(**options)  # type: ignore[arg-type]
    if args.logger == "hypertune" and args.log_path:
        os.environ["CLOUD_ML_HP_METRIC_FILE"] = args.log_path
    print("Using CPU", flush=True)  # on stdout, between the log lines
    reports = iter(hypertune_reports(args))
    for message in messages(args):
        logging.info(message)
        if args.logger == "hypertune" and message.startswith("{metricName"):
            for _ in range(2):
                _hypertune(*next(reports))
    for handler in logging.getLogger().handlers:
        handler.flush()
    if args.standin_bad_above is not None and args.lr > args.standin_bad_above:
        deadline = time.monotonic() + args.standin_linger
        while time.monotonic() < deadline:
            time.sleep(0.05)


def _hypertune(tag: str, value: float, step: int) -> None:
    """What cloudml-hypertune's ``report_hyperparameter_tuning_metric`` appends."""
    path = os.environ.get("CLOUD_ML_HP_METRIC_FILE", "/tmp/hypertune/output.metrics")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = {"timestamp": time.time(), "trial": "0", tag: str(value), "global_step": str(step), "checkpoint_path": ""}
    with open(path, "a") as file:
        file.write(json.dumps(body) + "\n")


if __name__ == "__main__":
    main()
