"""The worker adapter: a job generator on a QThread, reported as signals in the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QCoreApplication, QObject, QThread, Slot

from cnndesk.domain import Cancelled, LibraryError, Progress
from cnndesk.gui.worker import Worker


@dataclass(frozen=True)
class Marker:
    """A non-progress event: never coalesced."""

    n: int


class Recorder(QObject):
    """A GUI-thread receiver with bound slots (a lambda would run in the worker's thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[object] = []
        self.threads: list[QThread] = []
        self.result: object = None
        self.failure: tuple[str, str] | None = None
        self.was_cancelled = False

    @Slot(object)
    def _on_worker_event(self, event: object) -> None:
        self.events.append(event)
        self.threads.append(QThread.currentThread())

    @Slot(object)
    def _on_worker_finished(self, result: object) -> None:
        self.result = result

    @Slot(str, str)
    def _on_worker_failed(self, message: str, details: str) -> None:
        self.failure = (message, details)

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self.was_cancelled = True


def connect(worker: Worker) -> Recorder:
    rec = Recorder()
    worker.event.connect(rec._on_worker_event)
    worker.finished.connect(rec._on_worker_finished)
    worker.failed.connect(rec._on_worker_failed)
    worker.cancelled.connect(rec._on_worker_cancelled)
    return rec


def test_events_arrive_in_order_and_finished_carries_the_result(qtbot) -> None:
    job_threads: list[threading.Thread] = []

    def job() -> Generator[Marker, None, str]:
        job_threads.append(threading.current_thread())
        for n in range(5):
            yield Marker(n)
        return "done"

    worker = Worker(job)
    rec = connect(worker)
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        worker.start()
    assert blocker.args == ["done"]
    assert rec.events == [Marker(n) for n in range(5)]
    assert rec.result == "done" and worker.result == "done"
    assert job_threads[0] is not threading.main_thread()  # the job ran off the GUI thread
    assert all(t is QThread.currentThread() for t in rec.threads)  # delivered in the GUI thread
    assert not worker.is_running() and worker.wait(0)
    assert Worker.running_workers() == []


def test_fast_progress_is_coalesced_but_the_last_and_every_other_event_arrive(qtbot) -> None:
    def job() -> Generator[object, None, None]:
        for n in range(2000):
            yield Progress(n + 1, 2000)
        yield Marker(1)
        for n in range(2000):
            yield Progress(n + 1, 2000, "second")
        yield Marker(2)

    worker = Worker(job)
    rec = connect(worker)
    with qtbot.waitSignal(worker.finished, timeout=10000):
        worker.start()
    markers = [e for e in rec.events if isinstance(e, Marker)]
    progress = [e for e in rec.events if isinstance(e, Progress)]
    assert markers == [Marker(1), Marker(2)]
    assert len(progress) < 4000  # throttled
    first = [p for p in progress if not p.message]
    second = [p for p in progress if p.message]
    assert first[-1] == Progress(2000, 2000) and second[-1] == Progress(2000, 2000, "second")
    assert [p.done for p in first] == sorted(p.done for p in first)  # never reordered
    assert rec.events.index(first[-1]) < rec.events.index(Marker(1)) < rec.events.index(second[0])


def test_a_cnndesk_error_becomes_failed_with_its_message(qtbot) -> None:
    def job() -> Generator[Marker, None, None]:
        yield Marker(0)
        raise LibraryError("Label at least two classes, then train.")

    worker = Worker(job)
    rec = connect(worker)
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start()
    assert blocker.args[0] == "Label at least two classes, then train."
    assert rec.events == [Marker(0)] and rec.result is None and not rec.was_cancelled


def test_an_unexpected_error_gives_a_short_message_and_the_traceback(qtbot, caplog) -> None:
    def job() -> Generator[Marker, None, None]:
        yield Marker(0)
        _ = {}["missing"]

    worker = Worker(job)
    connect(worker)
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start()
    message, details = blocker.args
    assert "KeyError" in message and "Traceback" not in message
    assert "Traceback" in details and "missing" in details
    assert "failed unexpectedly" in caplog.text


def test_cancel_stops_between_yields_and_runs_the_finally(qtbot) -> None:
    started = threading.Event()
    release = threading.Event()
    cleaned: list[str] = []

    def job() -> Generator[Marker, None, str]:
        try:
            n = 0
            while True:
                started.set()
                release.wait(5)
                yield Marker(n)
                n += 1
        finally:
            cleaned.append(threading.current_thread().name)

    worker = Worker(job)
    rec = connect(worker)
    worker.start()
    assert started.wait(5)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.cancel()
        release.set()
    assert len(cleaned) == 1 and cleaned[0] != threading.main_thread().name
    assert rec.result is None and rec.failure is None
    assert not worker.is_running() and worker.wait(0)


def test_a_job_may_return_its_partial_result_when_cancelled(qtbot) -> None:
    def job() -> Generator[Marker, None, str]:
        best = "nothing yet"
        n = 0
        try:
            while True:  # until cancelled
                best = f"best after {n}"
                yield Marker(n)
                n += 1
                threading.Event().wait(0.001)
        except GeneratorExit:
            return best

    worker = Worker(job)
    connect(worker)

    class Canceller(QObject):
        @Slot(object)
        def _on_worker_event(self, event: object) -> None:
            if event == Marker(2):
                worker.cancel()

    canceller = Canceller()
    worker.event.connect(canceller._on_worker_event)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start()
    assert str(worker.result).startswith("best after")


def test_a_job_that_raises_cancelled_is_reported_as_cancelled(qtbot) -> None:
    def job() -> Generator[Marker, None, None]:
        yield Marker(0)
        raise Cancelled("stopped")

    worker = Worker(job)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start()


def test_cancel_all_stops_every_worker_and_leaves_no_thread_running(qtbot) -> None:
    gate = threading.Event()

    def job() -> Generator[Marker, None, None]:
        while True:
            gate.wait(0.01)
            yield Marker(0)

    workers = [Worker(job) for _ in range(3)]
    for w in workers:
        w.start()
    assert Worker.cancel_all(wait_ms=5000)
    for w in workers:
        if w.is_running():
            qtbot.waitSignal(w.cancelled, timeout=5000).wait()
    assert Worker.running_workers() == []
    assert all(w.wait(0) for w in workers)


def test_a_worker_cannot_start_twice(qtbot) -> None:
    def job() -> Generator[Marker, None, None]:
        yield Marker(0)

    worker = Worker(job)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    with pytest.raises(RuntimeError):
        worker.start()


def test_quitting_the_app_cancels_running_workers_and_waits(qtbot) -> None:
    cleaned = threading.Event()

    def job() -> Generator[Marker, None, None]:
        try:
            while True:
                threading.Event().wait(0.005)
                yield Marker(0)
        finally:
            cleaned.set()

    worker = Worker(job)
    worker.start()
    qtbot.waitSignal(worker.event, timeout=5000).wait()
    QCoreApplication.instance().aboutToQuit.emit()  # what QApplication.quit() emits
    assert cleaned.is_set()  # the job's finally ran before the signal returned
    assert worker.wait(0)
    if worker.is_running():  # its end is delivered through the event loop
        qtbot.waitSignal(worker.cancelled, timeout=5000).wait()
    assert Worker.running_workers() == []


def test_an_ended_worker_frees_its_qt_side_but_keeps_its_result(qtbot) -> None:
    import shiboken6

    def job() -> Generator[Marker, None, int]:
        yield Marker(0)
        return 42

    worker = Worker(job)
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    qtbot.waitUntil(lambda: not shiboken6.isValid(worker), timeout=5000)
    assert worker.result == 42 and not worker.is_running() and worker.wait(0)


def test_the_panes_open_without_loading_torch() -> None:
    """Torch (3 s) and timm (6 s) load in the first job that needs them, never with a pane."""
    from tests.fresh_imports import loaded_by

    code = (
        "import cnndesk.gui.worker, cnndesk.gui.training_pane, cnndesk.gui.evaluation_pane\n"
        "import cnndesk.gui.prediction_pane, cnndesk.gui.batch_sort_pane, cnndesk.gui.curves\n"
    )
    assert loaded_by(code, ("torch", "timm", "torchvision", "cnndesk.ml")) == []
