"""The one adapter that runs a job generator on a ``QThread`` and turns it into Qt signals.

Every long operation in cnndesk is a plain generator that yields progress events and returns a
result, and knows nothing of Qt. :class:`Worker` runs one on its own thread and reports, in the
GUI thread:

- ``event(object)`` for each yielded event, in order. When a job yields faster than ~30 events a
  second, runs of consecutive progress events of the same type (and phase) are coalesced to the
  newest one (the last is always delivered); other events (an ``EpochEnd``, say) are never
  dropped.
- ``finished(object)`` with the generator's return value,
- ``failed(str, str)``: a message for the user and details. A :class:`~cnndesk.domain.CnndeskError`
  gives its own message; anything else a short message, with the traceback in the details and the
  log.
- ``cancelled()`` after :meth:`Worker.cancel`: the generator is closed *in its thread* between two
  yields, so its ``finally`` runs there and keeps what is safe. A job that answers the close by
  returning a value (a training run returning its best model so far) leaves it in
  :attr:`Worker.result`.

Exactly one of ``finished``, ``failed`` and ``cancelled`` is emitted, after every ``event``, and
only once the thread has stopped; then the worker's Qt object is deleted (``deleteLater``), so a
session of many short jobs keeps no threads or timers around. All four are emitted from the GUI thread (the worker drains a
queue there), so receivers are ordinary GUI code; still connect them to bound ``@Slot`` methods
of GUI-thread objects: a lambda or free function connected to a signal runs in the thread that
emits, even with a queued connection. Quitting the application cancels every running worker and waits
for it, bounded by :data:`QUIT_WAIT_MS`; at interpreter exit, any job still running is waited for
(bounded by :data:`EXIT_WAIT_MS`), since a ``QThread`` destroyed while running aborts the process.

This is the only module that uses ``QThread``.
"""

from __future__ import annotations

import atexit
import enum
import logging
import threading
import traceback
import types
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, ClassVar

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from cnndesk.domain import Cancelled, CnndeskError, Progress

log = logging.getLogger(__name__)

MAX_EVENTS_PER_SECOND = 30.0
"""At most this many deliveries of ``event`` a second (bursts are coalesced, never reordered)."""

QUIT_WAIT_MS = 5000
"""How long quitting the app waits for each running worker to stop."""
EXIT_WAIT_MS = 60000
"""At interpreter exit, how long to wait for a job still in a long step (see below)."""

JobFactory = Callable[[], Generator[Any, Any, Any]]


class _Kind(enum.Enum):
    EVENT = "event"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _JobThread(QThread):
    """Runs ``target`` on the new thread; the worker holds all the state."""

    def __init__(self, target: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._target = target

    def run(self) -> None:
        self._target()


class Worker(QObject):
    """Runs one job generator on a thread; see the module docstring for the signals.

    ``job`` is a callable that returns the generator (called on the worker thread, so building
    the job, which may import torch, stays off the GUI thread) or an already made generator.
    Create it in the GUI thread, connect its signals, then :meth:`start` it.
    """

    event = Signal(object)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    _posted = Signal()
    """Internal: the thread queued something for the GUI thread to deliver."""

    _running: ClassVar[set[Worker]] = set()
    """Strong references to running workers, so none is garbage-collected mid-job."""

    def __init__(
        self,
        job: JobFactory | Generator[Any, Any, Any],
        *,
        parent: QObject | None = None,
        max_events_per_second: float = MAX_EVENTS_PER_SECOND,
        name: str = "",
    ) -> None:
        super().__init__(parent)
        self.name = name or getattr(job, "__name__", "") or "job"
        self.result: Any = None
        """The job's return value: set on ``finished``, and on ``cancelled`` when it returned one."""
        self._job = job
        self._cancel_requested = threading.Event()
        self._lock = threading.Lock()
        self._queue: deque[tuple[_Kind, Any]] = deque()
        self._scheduled = False
        self._draining = False
        self._ended = False
        self._thread = _JobThread(self._run)
        self._cooldown = QTimer(self)
        self._cooldown.setSingleShot(True)
        self._cooldown.setInterval(max(1, round(1000 / max_events_per_second)))
        self._cooldown.timeout.connect(self._on_cooldown_timeout)
        self._posted.connect(self._on_self_posted, Qt.ConnectionType.QueuedConnection)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._on_app_about_to_quit)

    # --------------------------------------------------------------------------- public API

    def start(self) -> None:
        """Start the job on its thread (once)."""
        if self._thread.isRunning() or self._ended:
            raise RuntimeError(f"worker {self.name!r} was already started")
        Worker._running.add(self)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next yield; ``cancelled`` follows once it has."""
        self._cancel_requested.set()

    def is_running(self) -> bool:
        """Whether the job has not ended yet (its end signal not yet emitted)."""
        return self in Worker._running

    def wait(self, ms: int = QUIT_WAIT_MS) -> bool:
        """Block until the thread has stopped (at most ``ms``); ``True`` when it has."""
        return self._thread.wait(ms) if self._thread.isRunning() else True

    @classmethod
    def running_workers(cls) -> list[Worker]:
        """Workers whose job has not ended (for tests and for quitting)."""
        return list(cls._running)

    @classmethod
    def cancel_all(cls, *, wait_ms: int = QUIT_WAIT_MS) -> bool:
        """Cancel every running worker and wait for each (bounded); ``True`` if all stopped."""
        workers = list(cls._running)
        for worker in workers:
            worker.cancel()
        return all(worker.wait(wait_ms) for worker in workers)

    # ----------------------------------------------------------------------- worker thread

    def _post(self, kind: _Kind, payload: Any = None) -> None:
        with self._lock:
            self._queue.append((kind, payload))
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self._posted.emit()
        except RuntimeError:  # the worker's Qt object is gone (the app is closing): no one listens
            log.debug("%s: result dropped, the worker object was deleted", self.name)

    def _run(self) -> None:
        """The thread's body: drive the generator, post its events, close it on cancel."""
        gen: Generator[Any, Any, Any] | None = None
        try:
            if self._cancel_requested.is_set():
                self._post(_Kind.CANCELLED)
                return
            gen = self._job if isinstance(self._job, types.GeneratorType) else self._job()
            while True:
                if self._cancel_requested.is_set():
                    self._post(_Kind.CANCELLED, _close(gen))
                    return
                try:
                    item = next(gen)
                except StopIteration as stop:
                    self._post(_Kind.FINISHED, stop.value)
                    return
                self._post(_Kind.EVENT, item)
        except Cancelled:
            self._post(_Kind.CANCELLED)
        except CnndeskError as exc:
            log.info("%s failed: %s", self.name, exc)
            self._post(_Kind.FAILED, (str(exc), traceback.format_exc()))
        except Exception as exc:  # the worker boundary: anything becomes a message
            details = traceback.format_exc()
            log.error("%s failed unexpectedly:\n%s", self.name, details)
            message = f"Something went wrong ({type(exc).__name__}: {exc})."
            self._post(_Kind.FAILED, (message, details))
        except BaseException as exc:  # SystemExit/KeyboardInterrupt in a job: still end the worker
            self._post(_Kind.FAILED, (f"The job stopped ({type(exc).__name__}).", repr(exc)))
        finally:
            self._job = None  # type: ignore[assignment]  # drop the generator's frames here

    # -------------------------------------------------------------------------- GUI thread

    @Slot()
    def _on_self_posted(self) -> None:
        with self._lock:
            self._scheduled = False
        if not self._cooldown.isActive():
            self._drain()

    @Slot()
    def _on_cooldown_timeout(self) -> None:
        self._drain()

    def _drain(self) -> None:
        if self._draining:  # a slot re-entered the event loop (a dialog): keep the order
            return
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
        if not items:
            return
        self._draining = True
        try:
            for index, (kind, payload) in enumerate(items):
                if kind is _Kind.EVENT:
                    following = items[index + 1] if index + 1 < len(items) else None
                    if following is not None and _supersedes(following, payload):
                        continue
                    self.event.emit(payload)
                else:
                    self._end(kind, payload)
                    return
        finally:
            self._draining = False
        self._cooldown.start()  # the next delivery waits a little; it drains what came meanwhile

    def _end(self, kind: _Kind, payload: Any) -> None:
        self._cooldown.stop()
        self._thread.wait()  # the thread posted its last item and is returning
        self._ended = True
        Worker._running.discard(self)
        if kind is _Kind.FINISHED:
            self.result = payload
            self.finished.emit(payload)
        elif kind is _Kind.CANCELLED:
            self.result = payload
            self.cancelled.emit()
        else:
            message, details = payload
            self.failed.emit(message, details)
        # Every receiver has run; free the Qt side (a pane may keep the Python object to read
        # ``result``; its thread is stopped and owned by Python).
        self.deleteLater()

    @Slot()
    def _on_app_about_to_quit(self) -> None:
        if self._thread.isRunning():
            self.cancel()
            if not self._thread.wait(QUIT_WAIT_MS):
                log.warning("%s did not stop within %d ms of quitting", self.name, QUIT_WAIT_MS)


@atexit.register
def _wait_for_workers_at_exit() -> None:
    """Let running jobs stop before Python tears Qt down: a ``QThread`` destroyed while its
    thread runs aborts the process (a job stuck in a long step, e.g. importing torch, outlives
    :data:`QUIT_WAIT_MS`)."""
    workers = list(Worker._running)
    for worker in workers:
        worker._cancel_requested.set()
    for worker in workers:
        if not worker._thread.wait(EXIT_WAIT_MS):
            log.warning("%s still running at exit", worker.name)


def _supersedes(following: tuple[_Kind, Any], event: Any) -> bool:
    """Whether ``event`` may be dropped because the next queued item is a newer one like it:
    a progress event of the same type and the same phase (a training batch is never hidden by
    the evaluation batch that follows it)."""
    kind, payload = following
    return (
        kind is _Kind.EVENT
        and isinstance(event, Progress)
        and type(payload) is type(event)
        and getattr(payload, "phase", None) == getattr(event, "phase", None)
    )


def _close(gen: Generator[Any, Any, Any]) -> Any:
    """Close ``gen`` (its ``finally`` runs) and return what it returned on the way out, if anything.

    Like ``generator.close()`` in Python 3.13: a job may catch ``GeneratorExit`` and return its
    partial result (a training run its best model so far).
    """
    try:
        gen.throw(GeneratorExit)
    except StopIteration as stop:
        return stop.value
    except GeneratorExit:
        return None
    gen.close()  # it yielded again instead of stopping: force it (RuntimeError, as close() would)
    raise RuntimeError("the job yielded again after it was asked to stop")
