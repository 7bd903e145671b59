"""Results recovered from a run's log, for runs that wrote no results.yaml.

Two conventions are read: pipetune's own ``pipetune.report {...}`` lines, and Katib's StdOut
metrics collector (``name=value``, matched with Katib's default regular expression), so Katib
trial images work unchanged.

A log of any size is read in bounded memory and linear time (``LogReader``, and
``LogFollower`` for a file, read in chunks from where it stopped, so an engine can read a log
as it grows and pay only for the tail when the run ends):

- a line longer than ``MAX_METRIC_LINE`` characters (64 Ki, Go's ``bufio.MaxScanTokenSize``,
  the longest line a default ``bufio.Scanner`` reads) is not a metric line: it is skipped
  whole, never held in memory nor matched;
- Katib's default expression is matched by an equivalent one that runs in linear time
  (``KATIB_DEFAULT_FILTER`` itself backtracks quadratically on a long run of word characters
  without ``=``: 25 s for a 40 KB line); ``metricsFormat`` expressions other than the default
  run as given, line by line, so they cost what Python's engine makes of them on lines of at
  most ``MAX_METRIC_LINE``;
- the results keep the last value of each metric, of at most ``MAX_METRIC_NAMES`` names
  (later new names are ignored), and a history of at most ``MAX_HISTORY`` entries holding at
  most ``MAX_HISTORY_VALUES`` values: past either it is thinned evenly (every 2nd entry kept,
  then every 4th, ..., and always the last one), each kept entry given a ``step`` (its
  position among all the log's entries, unless it has its own), so curves keep their shape and
  their steps.

Logs within these bounds give exactly the results that reading them whole gives.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from re import Pattern

from pipetune.contract._report import REPORT_PREFIX
from pipetune.contract._results import Results

#: Katib's default metrics filter for the StdOut collector.
KATIB_DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"

#: ``KATIB_DEFAULT_FILTER`` in linear time, with the same matches. From any offset, the default
#: expression's name runs to the end of the run of ``[\w|-]`` characters there (``\s`` and
#: ``=`` are outside that class, so giving characters back never helps): where it fails at one
#: offset of a run it fails at every later one, each retry scanning to the run's end again.
#: This one takes the rest of the run once and makes ``=value`` optional: a run with no ``=``
#: after it matches without group 2 (and is skipped), and matching goes on after the run.
_KATIB_LINEAR = re.compile(r"([\w|-]+)(?:\s*=\s*([+-]?\d*(?:\.\d+)?(?:[Ee][+-]?\d+)?))?", re.ASCII)

#: The longest line, in characters (its line break not counted), read for metrics.
MAX_METRIC_LINE = 64 * 1024
#: The most history entries results recovered from a log keep.
MAX_HISTORY = 10_000
#: The most values, over all history entries, results recovered from a log keep.
MAX_HISTORY_VALUES = 500_000
#: The most distinct metric names results recovered from a log keep.
MAX_METRIC_NAMES = 1_000

#: How much of a log file is read at a time.
CHUNK_BYTES = 256 * 1024

#: The characters ``str.splitlines`` breaks lines at (a line's end is stripped of them).
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@dataclass(frozen=True)
class LogMetrics:
    """How to read metrics from a run's log, Katib's collector settings in one value.

    ``names`` keeps only those metrics (None: all); ``filters`` are ``metricsFormat`` regular
    expressions (None: Katib's default), matched as Go's ``regexp`` matches them (``\\w``,
    ``\\d`` and ``\\s`` are ASCII), each match's name and value trimmed of white space, as
    Katib's collector does; ``file`` is a metrics file to read instead of stdout (Katib's File
    collector, the path as the run sees it) and ``json`` says its lines are JSON objects rather
    than text; ``tfevents`` is a directory of TensorFlow event files to read instead (Katib's
    TensorFlowEvent collector, see ``pipetune.contract.TFEventReader``). ``merged``: the log
    is the run's stdout and stderr merged in the order they were written, as Katib's StdOut
    collector reads the container's output (its webhook appends ``1>file 2>&1``).
    """

    names: tuple[str, ...] | None = None
    filters: tuple[str, ...] | None = None
    file: str | None = None
    json: bool = False
    tfevents: str | None = None
    merged: bool = False

    def read(self, lines: Iterable[str]) -> Results | None:
        """The results these lines hold, or None (see the module docstring for the bounds)."""
        reader = self.reader()
        reader.feed(lines)
        return reader.results()

    def read_file(self, path: str | os.PathLike[str]) -> Results | None:
        """The results a log file holds, read in chunks; None when it holds none or does not
        exist."""
        return self.follow(path).finish()

    def reader(self) -> LogReader:
        """A reader to feed lines to, one at a time or in batches."""
        return LogReader(self)

    def follow(self, path: str | os.PathLike[str]) -> LogFollower:
        """A reader of the file at ``path`` (which may not exist yet) from where it stopped."""
        return LogFollower(path, self)

    def stream(self) -> LogStream:
        """A reader to feed a log's bytes to, in pieces of any size (say, an HTTP response)."""
        return LogStream(self.reader())


def results_from_json_lines(
    lines: Iterable[str], metric_names: Collection[str] | None = None
) -> Results | None:
    """Katib's File collector in JSON format: one JSON object of metrics per line (values may
    be numbers or numeric strings; other keys, such as ``timestamp``, are skipped)."""
    names = None if metric_names is None else tuple(metric_names)
    return LogMetrics(names=names, json=True).read(lines)


def results_from_log(
    lines: Iterable[str],
    metric_names: Collection[str] | None = None,
    filters: Collection[str] | None = None,
) -> Results | None:
    """Build results from log lines, or None when the log holds no metrics at all.

    ``pipetune.report`` lines win when present. Otherwise each line's ``name=value`` pairs
    (Katib's filter, or ``filters``) become one history entry and the last value of each name
    its metric. ``metric_names`` keeps only those names, as Katib's collector does.
    """
    names = None if metric_names is None else tuple(metric_names)
    return LogMetrics(names=names, filters=tuple(filters) if filters else None).read(lines)


class _History:
    """Entries in order, at most ``MAX_HISTORY`` of them and ``MAX_HISTORY_VALUES`` values:
    when over, every other kept entry is dropped and only every ``stride``-th is kept from then
    on (positions 1, 1 + stride, ...); the last entry is always kept. ``metrics`` holds the
    last value of every name but ``skip`` over all entries."""

    def __init__(self, skip: str | None) -> None:
        self.skip = skip
        self.kept: list[tuple[int, dict[str, float]]] = []
        self.values = 0
        self.count = 0
        self.stride = 1
        self.last: dict[str, float] | None = None
        self.metrics: dict[str, float] = {}
        #: Once thinned: the kept entries, each with its ``step``, made once per entry (not on
        #: every ``entries`` call, which a poller makes while the run goes on).
        self.stepped: list[dict[str, float]] = []

    def add(self, entry: dict[str, float]) -> None:
        self.count += 1
        self.last = entry
        self.metrics.update(entry)
        if self.skip is not None and self.skip in entry:
            del self.metrics[self.skip]
        if (self.count - 1) % self.stride:
            return
        self.kept.append((self.count, entry))
        self.values += len(entry)
        if self.stride > 1:
            self.stepped.append(_stepped(self.count, entry))
        # Thinned, the last entry is added at the end: keep room for it.
        limit = MAX_HISTORY if self.stride == 1 else MAX_HISTORY - 1
        while len(self.kept) > 1 and (len(self.kept) > limit or self.values > MAX_HISTORY_VALUES):
            del self.kept[1::2]
            self.values = sum(len(kept) for _, kept in self.kept)
            self.stride *= 2
            limit = MAX_HISTORY - 1
            self.stepped = [_stepped(position, kept) for position, kept in self.kept]

    def entries(self) -> list[dict[str, float]]:
        if self.stride == 1:
            return [entry for _, entry in self.kept]
        entries = list(self.stepped)
        if self.last is not None and self.kept[-1][0] != self.count:
            entries.append(_stepped(self.count, self.last))
        return entries


def _stepped(position: int, entry: dict[str, float]) -> dict[str, float]:
    """A thinned history's entry: with its own step, else its position among all entries."""
    return entry if "step" in entry else {"step": position, **entry}


class LogReader:
    """Reads results from log lines fed to it, in bounded memory (see the module docstring)."""

    def __init__(self, spec: LogMetrics) -> None:
        self.wanted = None if spec.names is None else frozenset(spec.names)
        self.json = spec.json
        filters = spec.filters or (KATIB_DEFAULT_FILTER,)
        #: Each expression, and whether a line needs an ``=`` for it to match (the default's).
        self.patterns: list[tuple[Pattern[str], bool]] = [
            (_KATIB_LINEAR, True) if f == KATIB_DEFAULT_FILTER else (re.compile(f, re.ASCII), False)
            for f in filters
        ]
        self.any_line = not all(needs_equals for _, needs_equals in self.patterns)
        #: The metric names met so far, each mapped to itself: entries share one copy of a name.
        self.names: dict[str, str] = {}
        #: A ``pipetune.report`` line with a metric was read: such lines alone count from now on.
        self.reported = False
        skip = None if self.json else "step"
        self.reports = _History(skip)
        self.katib = _History(skip)
        self._key: tuple[bool, int, int] | None = None
        self._results: Results | None = None

    def feed(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.feed_line(line)

    def feed_line(self, line: str) -> None:
        """One line, without its line break."""
        if len(line) > MAX_METRIC_LINE:
            return
        if self.json:
            if "{" in line:
                self._json_line(line)
            return
        if REPORT_PREFIX in line and self._report_line(line):
            return
        if not self.reported and (self.any_line or "=" in line):
            entry = self._katib_entry(line)
            if entry and (self.wanted is None or len(entry) > 1 or "step" not in entry):
                self.katib.add(entry)

    def feed_text(self, text: str) -> None:
        """Whole lines of text (a piece without a line break at its end is one line)."""
        if self.json:
            if "{" not in text:
                return
        elif REPORT_PREFIX not in text and (self.reported or not (self.any_line or "=" in text)):
            return
        for line in text.splitlines():
            self.feed_line(line)

    def results(self) -> Results | None:
        """The results of the lines fed so far (the same object until a line adds to them,
        so a poller may ask on every turn)."""
        key = (self.reported, self.reports.count, self.katib.count)
        if key == self._key:
            return self._results
        history = self.reports if self.reported or self.json else self.katib
        found = Results(metrics=dict(history.metrics), history=history.entries()) if history.count else None
        self._key, self._results = key, found
        return found

    # -- one line ------------------------------------------------------------------------------

    def _report_line(self, line: str) -> bool:
        """Read a report line; False when it holds no report (bad JSON, no finite value)."""
        start = line.find(REPORT_PREFIX)
        try:
            entry = json.loads(line[start + len(REPORT_PREFIX) :])
        except ValueError:
            return False
        if not isinstance(entry, dict):
            return False
        clean = {k: v for k, v in entry.items() if _finite(v)}
        if not clean:
            return False
        self.reported = True
        kept = self._keep(clean)
        if kept is not None:
            self.reports.add(kept)
        return True

    def _katib_entry(self, line: str) -> dict[str, float]:
        """The line's wanted (and known) ``name=value`` pairs and its step."""
        entry: dict[str, float] = {}
        wanted, names, isfinite = self.wanted, self.names, math.isfinite
        for pattern, needs_equals in self.patterns:
            if needs_equals:
                if "=" not in line:
                    continue
                # The linear expression: every run of name characters, its value "" when no
                # "=" follows it (and when one does but no number: Katib matches "name=" too).
                pairs: Iterable[tuple[str, str | None]] = pattern.findall(line)
            else:
                # Katib trims what a metricsFormat captures ("loss " is "loss").
                pairs = (
                    ((match.group(1) or "").strip(), (match.group(2) or "").strip())
                    for match in pattern.finditer(line)
                )
            for name, text in pairs:
                if not text or not name:
                    continue
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    continue
                if not isfinite(value):
                    continue
                if name == "step":
                    entry[name] = value
                elif wanted is None or name in wanted:
                    known = names.get(name) or self._known(name)
                    if known is not None:
                        entry[known] = value
        return entry

    def _json_line(self, line: str) -> None:
        try:
            entry = json.loads(line)
        except ValueError:
            return
        if not isinstance(entry, dict):
            return
        kept: dict[str, float] = {}
        for name, value in entry.items():
            if self.wanted is not None and name not in self.wanted:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number) and not isinstance(value, bool):
                known = self._known(name)
                if known is not None:
                    kept[known] = number
        if kept:
            self.reports.add(kept)

    def _keep(self, entry: dict[str, float]) -> dict[str, float] | None:
        """The entry with only the wanted (and known) names and its step; None when that leaves
        nothing, or only a step when some names are wanted."""
        kept: dict[str, float] = {}
        for name, value in entry.items():
            if name == "step":
                kept[name] = value
            elif self.wanted is None or name in self.wanted:
                known = self._known(name)
                if known is not None:
                    kept[known] = value
        if not kept or (self.wanted is not None and set(kept) == {"step"}):
            return None
        return kept

    def _known(self, name: str) -> str | None:
        """The one copy of ``name`` kept, or None past ``MAX_METRIC_NAMES`` names."""
        known = self.names.get(name)
        if known is None and len(self.names) < MAX_METRIC_NAMES:
            known = self.names[name] = name
        return known


#: A line break, as ``str.splitlines`` sees one.
_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class LogStream:
    """A log's bytes in, in pieces of any size; whole lines out to a ``LogReader``.

    Holds back the unfinished last line until its line break comes (``finish`` reads it too).
    Memory: the piece being read, and the unfinished line (at most ``MAX_METRIC_LINE``
    characters: a longer one is dropped, and skipped to its end).
    """

    def __init__(self, reader: LogReader) -> None:
        self.reader = reader
        self.pending = ""
        #: The current line is longer than ``MAX_METRIC_LINE``: skip to its end.
        self.skipping = False
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> None:
        """The next bytes of the log."""
        self._text(self.decoder.decode(data))

    def finish(self) -> Results | None:
        """The log has ended: read its last line; the results of the whole log."""
        self._text(self.decoder.decode(b"", final=True))
        if self.pending and not self.skipping:
            self.reader.feed_line(self.pending)
        self.pending, self.skipping = "", False
        return self.reader.results()

    def results(self) -> Results | None:
        """The results of the whole lines read so far."""
        return self.reader.results()

    def _text(self, text: str) -> None:
        if not text:
            return
        whole, unfinished = _split_unfinished(self.pending + text if self.pending else text)
        if self.skipping and whole:
            end = _BREAK.search(whole)
            assert end is not None  # whole lines end with a line break
            whole, self.skipping = whole[end.end() :], False
        if whole and not self.skipping:
            self.reader.feed_text(whole)
        if len(unfinished) > MAX_METRIC_LINE:
            self.pending, self.skipping = "", True
        elif not self.skipping:
            self.pending = unfinished


class LogFollower:
    """Reads a log file's results from where the last ``advance`` stopped, a chunk at a time.

    ``advance`` reads what has been written so far (or until a deadline), holding back the
    last line until its line break comes; ``finish`` reads the rest, that last line included,
    and gives the results. A file that shrinks or is replaced is read again from its start.
    Memory: one chunk, and the unfinished line (see ``LogStream``).
    """

    def __init__(self, path: str | os.PathLike[str], spec: LogMetrics) -> None:
        self.path = Path(path)
        self.spec = spec
        self._start()

    def _start(self) -> None:
        self.stream = self.spec.stream()
        self.offset = 0
        self.inode: int | None = None

    def advance(self, deadline: float | None = None) -> bool:
        """Read on until the end of what is written, or until ``time.monotonic()`` passes
        ``deadline`` (at least one chunk is read); True when the end was reached."""
        try:
            file = open(self.path, "rb")
        except FileNotFoundError:
            return True
        with file:
            status = os.fstat(file.fileno())
            if self.inode is not None and (status.st_ino != self.inode or status.st_size < self.offset):
                self._start()
            self.inode = status.st_ino
            file.seek(self.offset)
            while True:
                data = file.read(CHUNK_BYTES)
                if not data:
                    return True
                self.offset += len(data)
                self.stream.feed(data)
                if deadline is not None and time.monotonic() >= deadline:
                    return False

    def finish(self) -> Results | None:
        """Read to the end of the file; the results of the whole log."""
        self.advance()
        return self.stream.finish()

    def results(self) -> Results | None:
        """The results of the whole lines read so far."""
        return self.stream.results()


def _split_unfinished(text: str) -> tuple[str, str]:
    """``text`` as its whole lines and the unfinished line after them (maybe empty)."""
    tail = text[text.rfind("\n") + 1 :]
    if not tail:
        return text, ""
    last = tail.splitlines(keepends=True)[-1]
    if last[-1] in _LINE_BREAKS:
        return text, ""
    return text[: len(text) - len(last)], last


def _finite(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
