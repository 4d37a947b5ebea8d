"""The one way every command runs a job: progress bars on stderr and lines between them.

:func:`run_job` drives a job generator with :func:`cnndesk.jobs.drive` (Ctrl+C closes the job,
which cleans up, and reaches :func:`cnndesk.cli.program.main` as "cancelled"). Each
:class:`~cnndesk.domain.Progress` event draws a :class:`ProgressBar` when stderr is a terminal;
a new bar starts when the job enters a new phase (another event type or another label).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Generator
from typing import Any, TextIO, TypeVar

from cnndesk.domain import Progress

T = TypeVar("T")


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not a terminal."""

    def __init__(self, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, event: Progress, *, message: str | None = None, force: bool = False) -> None:
        """Draw ``event`` (at most ten times a second unless ``force``), with ``message`` if given."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        fraction = event.fraction
        if fraction is None:
            bar = " " * self.width
            counts = f"{event.done}"
        else:
            filled = round(self.width * min(max(fraction, 0.0), 1.0))
            bar = "█" * filled + "·" * (self.width - filled)
            counts = f"{event.done}/{event.total}"
        elapsed = now - self.started
        rate = f" {event.done / elapsed:,.0f}/s" if elapsed > 0.5 and event.done else ""
        text = event.message if message is None else message
        line = f"\r{self.label} |{bar}| {counts}{rate}{f' {text}' if text else ''}"
        self.stream.write(line[:120].ljust(80))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


Label = str | dict[type, str] | Callable[[Progress], "str | None"]
"""What a bar is called: one label, a label per event type ("Working" for others), or a
function of the event (``None``: the event draws no bar)."""


def _label_of(label: Label, event: Progress) -> str | None:
    if isinstance(label, str):
        return label
    if isinstance(label, dict):
        return label.get(type(event), "Working")
    return label(event)


def run_job(
    job: Generator[Any, None, T],
    *,
    label: Label,
    message: Callable[[Progress], str] | None = None,
    lines: Callable[[Any], str | None] | None = None,
) -> T:
    """Drive ``job`` to its result, drawing its progress; Ctrl+C cancels it cleanly.

    ``message`` rewrites the text beside a bar; ``lines`` turns an event into a line for stderr
    (``None``: no line), printed on a line of its own below the bar so far.
    """
    from cnndesk.jobs import drive  # imported when a command runs: cheap start-up

    bar: ProgressBar | None = None
    phase: tuple[type, str] | None = None

    def close_bar() -> None:
        nonlocal bar, phase
        if bar is not None:
            bar.close()
        bar, phase = None, None

    def on_event(event: Any) -> None:
        nonlocal bar, phase
        line = lines(event) if lines is not None else None
        if line is not None:
            close_bar()
            print(line, file=sys.stderr)
        name = _label_of(label, event) if isinstance(event, Progress) else None
        if name is None:
            return
        if phase != (type(event), name):
            close_bar()
            bar, phase = ProgressBar(name), (type(event), name)
        assert bar is not None
        last = bool(event.total) and event.done == event.total
        bar.update(event, message=message(event) if message else None, force=last)

    try:
        return drive(job, on_event)
    finally:
        close_bar()
