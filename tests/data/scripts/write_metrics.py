"""A stand-in primary container for the metrics collector tests: writes one metrics entry per
step to a Katib File collector's file (TEXT ``name=value`` lines or JSON lines) or to
TensorFlow event files, each step only once the test lets it.

``--gate DIR``: before step ``i`` it waits for ``DIR/go-<i>``, and before it ends for
``DIR/stop`` (without it, it writes every step at once and ends). The waits give up after 60 s.
Accuracy at step ``i`` is ``i / 10``, loss ``1 - i / 10``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def wait_for(path: Path | None) -> None:
    if path is None:
        return
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"write_metrics: {path} never came")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--format", choices=("TEXT", "JSON", "TFEVENT"), default="TEXT")
    parser.add_argument("--path", required=True, help="the metrics file, or the event folder")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--gate", type=Path)
    args = parser.parse_args()
    writer = None
    if args.format == "TFEVENT":
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        writer = EventFileWriter(os.path.join(args.path, "train"))
    else:
        Path(args.path).parent.mkdir(parents=True, exist_ok=True)
    for step in range(1, args.steps + 1):
        wait_for(args.gate / f"go-{step}" if args.gate else None)
        accuracy, loss = step / 10, round(1 - step / 10, 6)
        if writer is not None:
            values = [summary_pb2.Summary.Value(tag=tag, simple_value=value)
                      for tag, value in (("accuracy", accuracy), ("loss", loss))]
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                             summary=summary_pb2.Summary(value=values)))
            writer.flush()
            continue
        with open(args.path, "a", encoding="utf-8") as handle:
            if args.format == "JSON":
                handle.write(json.dumps({"accuracy": str(accuracy), "loss": loss, "timestamp": "x"}) + "\n")
            else:
                handle.write(f"epoch {step}: accuracy={accuracy} loss={loss}\n")
    if writer is not None:
        writer.close()
    wait_for(args.gate / "stop" if args.gate else None)


if __name__ == "__main__":
    main()
