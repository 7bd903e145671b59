"""A stand-in for Katib's tf-mnist-with-summaries trial image: the same arguments and output.

Like the image: a ``Train Epoch: ... loss=X, accuracy=Y`` line per logged step on stdout, with
the accuracy as a percentage (``96.55``), and per epoch TF2 scalar summaries ``loss`` and
``accuracy`` (fractions) in ``<log-path>/train`` and ``<log-path>/test``: TensorFlow event
files, written with tensorboard's own writer (no TensorFlow needed). The numbers are a pure
function of the arguments (``accuracies``).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util


def accuracies(learning_rate: float, batch_size: int, epoch: int) -> tuple[float, float]:
    """Train and test accuracy (fractions) after ``epoch`` (from 0)."""
    train = 0.9 + 0.0655 * (epoch + 1) / (epoch + 2) + learning_rate / 10
    test = 0.80 + learning_rate + batch_size / 10_000 + 0.01 * epoch
    return min(train, 0.999), test


def _scalar(writer: EventFileWriter, tag: str, value: float, step: int) -> None:
    # What tf.summary.scalar writes in TF2: a tensor value.
    proto = tensor_util.make_tensor_proto(np.float32(value))
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=proto)])
    writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--log-path", default="/tmp/tensorflow/mnist/logs/mnist_with_summaries")
    args, _ = parser.parse_known_args()
    train_writer = EventFileWriter(os.path.join(args.log_path, "train"))
    test_writer = EventFileWriter(os.path.join(args.log_path, "test"))
    for epoch in range(args.epochs):
        train, test = accuracies(args.learning_rate, args.batch_size, epoch)
        print(f"Train Epoch: {epoch + 1} [0/60000 (0%)]\tloss={1 - train:.4f}, accuracy={train * 100:.4f}", flush=True)
        _scalar(train_writer, "loss", 1 - train, epoch)
        _scalar(train_writer, "accuracy", train, epoch)
        _scalar(test_writer, "loss", 1 - test, epoch)
        _scalar(test_writer, "accuracy", test, epoch)
        print(f"Test Loss: {1 - test:.4f}, Test Accuracy: {test * 100:.4f}\n", flush=True)
    train_writer.close()
    test_writer.close()


if __name__ == "__main__":
    main()
