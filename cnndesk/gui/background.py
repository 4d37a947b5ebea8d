"""Short library reads run off the GUI thread, with the newest answer winning.

The browser's query over 20,000 images, the class counts and the status-bar statistics are
SQLite reads of tens of milliseconds: enough to stutter a keypress. :class:`LatestCall` runs
such a function on the thread pool and delivers only the answer to the newest request (results
of superseded requests are dropped, as Qt's mandelbrot example does). Long jobs with progress
and cancel go through ``gui/worker.py`` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


def stop_background_work(*, wait_ms: int = 3000) -> bool:
    """Drop queued pool tasks and wait for running ones (quitting: no task may outlive Qt)."""
    from cnndesk.gui.thumbnails import stop_thumbnail_processes, thumbnail_pool

    stop_thumbnail_processes()
    done = True
    for pool in (thumbnail_pool(), QThreadPool.globalInstance()):
        pool.clear()
        done = pool.waitForDone(wait_ms) and done
    return done


def emit_from_pool(signal, *args) -> None:  # type: ignore[no-untyped-def]
    """Emit ``signal`` from a pool thread; the receiver may be gone when the app is closing
    (then the result is dropped and logged at debug level)."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Signal source has been deleted": nobody is listening any more
        log.debug("a background result arrived after its receiver was deleted")


class _Signals(QObject):
    finished = Signal(int, object)
    failed = Signal(int, str)


class _CallTask(QRunnable):
    def __init__(self, signals: _Signals, request: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._signals = signals
        self._request = request
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # a worker boundary: the error becomes a signal
            log.exception("background read failed")
            emit_from_pool(self._signals.failed, self._request, str(exc) or type(exc).__name__)
        else:
            emit_from_pool(self._signals.finished, self._request, result)


class LatestCall(QObject):
    """Runs callables on the pool; emits ``finished(object)`` for the newest request only.

    ``failed(str)`` carries the error message of the newest request, when it raised.
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(
        self, *, pool: QThreadPool | None = None, priority: int = 2_000_000_000, parent=None
    ) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._priority = priority
        self._signals = _Signals(self)
        self._signals.finished.connect(self._on_task_finished)
        self._signals.failed.connect(self._on_task_failed)
        self._latest = 0
        self._running = 0

    def call(self, fn: Callable[[], Any]) -> int:
        """Run ``fn()`` in the background; any earlier request's answer will be dropped."""
        self._latest += 1
        self._running += 1
        self._pool.start(_CallTask(self._signals, self._latest, fn), self._priority)
        return self._latest

    @property
    def busy(self) -> bool:
        return self._running > 0

    @Slot(int, object)
    def _on_task_finished(self, request: int, result: object) -> None:
        self._running -= 1
        if request == self._latest:
            self.finished.emit(result)

    @Slot(int, str)
    def _on_task_failed(self, request: int, reason: str) -> None:
        self._running -= 1
        if request == self._latest:
            self.failed.emit(reason)
