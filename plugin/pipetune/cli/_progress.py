"""``pipetune tune``'s progress: a tqdm bar on a terminal (it fits the terminal's width, and
shows elapsed time and an ETA), one line per change elsewhere (``display.ProgressLines``)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

from pipetune.tuner.display import ProgressLines, done_count, progress_status, resume_notice
from pipetune.tuner.loop import Progress


class TerminalProgress:
    """A progress callback drawing one bar: trials done of the budget, elapsed, ETA, then the
    running, failed and best. The bar starts at the trials already done when the tuner resumes,
    so its rate and ETA count only this run's trials."""

    def __init__(self, stream: TextIO, directory: str) -> None:
        self.stream = stream
        self.directory = directory
        self.bar: Any = None

    def __call__(self, progress: Progress) -> None:
        done = done_count(progress)
        if self.bar is None:
            self.bar = tqdm(total=progress.total, initial=done, file=self.stream, dynamic_ncols=True, unit="trial",
                            bar_format="{n_fmt}/{total_fmt} trials |{bar}| {elapsed}<{remaining}{postfix}",
                            leave=True, mininterval=0.2)
        if progress.event == "resumed":
            # After the trials the tuner took up again have started: above the bar, once.
            self.bar.write(resume_notice(progress, self.directory), file=self.stream)
        self.bar.total = max(progress.total, done)
        self.bar.n = done
        self.bar.set_postfix_str(progress_status(progress), refresh=False)
        self.bar.refresh()

    def write(self, text: str) -> None:
        """A message above the bar (or a plain line before the bar is drawn)."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class NoProgress:
    """``--quiet``: nothing at all."""

    def __call__(self, progress: Progress) -> None:
        pass

    def write(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class Lines(ProgressLines):
    """Off a terminal: one line per change (a message is a line of its own)."""

    def close(self) -> None:
        pass


def progress_display(quiet: bool, directory: str, stream: TextIO | None = None) -> TerminalProgress | Lines | NoProgress:
    """The display for ``stream`` (default stderr): nothing with ``quiet``, a bar on a terminal,
    lines otherwise."""
    stream = stream or sys.stderr
    if quiet:
        return NoProgress()
    if stream.isatty():
        return TerminalProgress(stream, directory)
    return Lines(lambda line: print(line, file=stream, flush=True), directory)
