"""Katib's TensorFlowEvent collector: metrics read from the TensorFlow event files in a folder.

Event files are read with tensorboard's own reader (``EventFileLoader``, which runs without
TensorFlow on tensorboard's stub), each file on from where the last read stopped, so a
running trial's files are read as they grow. Katib's rules (its ``tfevent_loader.py``):

* every file under the folder, at any depth, is read (here: files whose name holds
  ``tfevents``, as TensorFlow, tensorboardX and PyTorch name them; anything else is no event
  file, which Katib skips with a warning);
* a summary value counts for metric ``m`` when its tag starts with ``m``'s last ``/`` part and
  the file's folder ends with ``m``'s folder part: ``train/accuracy`` is the ``accuracy`` tags
  of the files in a folder ending in ``train``; a plain ``accuracy`` is every ``accuracy`` tag;
* old-style scalars (``simple_value``) and TF2 tensors count alike (a tensor only when it holds
  one number).

The results keep each metric's value with the latest wall time (Katib's "latest"), and a
history of one entry per step (the values at that step, ``step`` included), oldest first, at
most ``MAX_HISTORY`` entries: past that, every other step is dropped, as ``_log`` thins logs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from pipetune.contract._log import MAX_HISTORY, MAX_METRIC_NAMES
from pipetune.contract._results import Results


def _loader(path: str) -> Any:
    # Deferred: tensorboard is imported only by runs with a TensorFlowEvent collector.
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return EventFileLoader(path)


def _number(value: Any) -> float | None:
    """A summary value's number, or None when it holds none (an image, a histogram)."""
    from tensorboard.util import tensor_util

    try:
        if value.HasField("simple_value"):
            number = float(value.simple_value)
        elif value.HasField("tensor"):
            array = tensor_util.make_ndarray(value.tensor)
            if array.size != 1 or array.dtype.kind not in "fiub":
                return None
            number = float(array.reshape(()))
        else:
            return None
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def consider(tag: str, metric: str, folder: str) -> bool:
    """Whether a value tagged ``tag`` in an event file in ``folder`` counts for ``metric``
    (Katib's ``_should_consider``)."""
    head, _, base = metric.rpartition("/")
    return tag.startswith(base) and (not head or folder.rstrip("/").endswith(head.rstrip("/")))


class TFEventReader:
    """The metrics ``names`` the event files under ``directory`` hold, read as they grow.

    Meets the log followers' protocol: ``advance`` reads what was added since the last call
    (until ``deadline``), ``results`` gives what was read, ``finish`` reads the rest first.
    """

    def __init__(self, directory: str | os.PathLike[str], names: Collection[str] | None) -> None:
        self.directory = Path(directory)
        self.names = tuple(names) if names is not None else None
        self.loaders: dict[str, Any] = {}
        #: Step -> the values at that step; name -> (wall time, value) of its latest value.
        self.steps: dict[int, dict[str, float]] = {}
        self.latest: dict[str, tuple[float, float]] = {}
        self.stride = 1

    def advance(self, deadline: float | None = None) -> bool:
        """Read what the files hold beyond what was read; True when all of it was read."""
        for path in self._files():
            loader = self.loaders.get(path)
            if loader is None:
                try:
                    loader = self.loaders[path] = _loader(path)
                except Exception:  # noqa: BLE001 - a file that is no event file is skipped, as Katib does
                    continue
            try:
                for event in loader.Load():
                    self._event(event, os.path.dirname(path))
            except Exception:  # noqa: BLE001 - a torn or foreign record: keep what was read, as Katib does
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def finish(self) -> Results | None:
        self.advance()
        return self.results()

    def results(self) -> Results | None:
        if not self.latest:
            return None
        metrics = {name: value for name, (_, value) in self.latest.items()}
        history = [{"step": float(step), **values} for step, values in sorted(self.steps.items())]
        return Results(metrics=metrics, history=history)

    def _files(self) -> Iterator[str]:
        if not self.directory.is_dir():
            return
        for root, _, files in os.walk(self.directory):
            for name in sorted(files):
                if "tfevents" in name:
                    yield os.path.join(root, name)

    def _event(self, event: Any, folder: str) -> None:
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            for name in self._wanted(value.tag, folder):
                number = _number(value)
                if number is None:
                    continue
                known = self.latest.get(name)
                if known is None and len(self.latest) >= MAX_METRIC_NAMES:
                    continue
                if known is None or event.wall_time >= known[0]:
                    self.latest[name] = (event.wall_time, number)
                self._keep(int(event.step), name, number)

    def _wanted(self, tag: str, folder: str) -> list[str]:
        if self.names is None:
            return [tag]
        return [name for name in self.names if consider(tag, name, folder)]

    def _keep(self, step: int, name: str, number: float) -> None:
        if step % self.stride:
            return
        self.steps.setdefault(step, {})[name] = number
        while len(self.steps) > MAX_HISTORY:
            self.stride *= 2
            self.steps = {s: v for s, v in self.steps.items() if s % self.stride == 0}


def read_tfevents(directory: str | os.PathLike[str], names: Collection[str] | None = None) -> Results | None:
    """The metrics ``names`` (None: every tag) the event files under ``directory`` hold, or
    None when they hold none."""
    return TFEventReader(directory, names).finish()
