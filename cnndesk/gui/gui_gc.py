"""Python's cyclic garbage collector, run only in the GUI thread.

A collection runs in whichever thread happens to allocate when a generation's threshold is
crossed. In a Qt program that can be a worker thread (a model being built allocates a lot), and
if the garbage holds a Qt object made in the GUI thread, its C++ side is then destroyed from the
wrong thread, and Qt can crash (this project's suite segfaulted once inside a
``Garbage-collecting`` frame of a worker thread that was building a model). pyqtgraph's
``GarbageCollector`` documents the same cure: turn automatic collection off and collect on a
GUI-thread timer, by the same generation thresholds, so nothing else changes.

Reference counting still frees everything that is not in a cycle at once; only cycles wait for
the next tick (:data:`INTERVAL_MS`).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer, Slot

INTERVAL_MS = 500
"""How often the GUI thread looks whether a collection is due."""


class GuiThreadCollector(QObject):
    """While started, only this object's timer (in the GUI thread) runs the garbage collector."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect_if_due)
        self._was_enabled = gc.isenabled()
        self.threshold = gc.get_threshold()

    def start(self) -> None:
        """Turn automatic collection off; the timer collects from now on."""
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Collect once more here, then give collection back to the interpreter as it was."""
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()

    @Slot()
    def collect_if_due(self) -> int:
        """Collect the generations whose counts passed their thresholds, youngest first, as
        the interpreter would have; returns the number of unreachable objects found."""
        counts = gc.get_count()
        found = 0
        for generation in range(3):
            if counts[generation] <= self.threshold[generation]:
                break
            found += gc.collect(generation)
        return found


def collect_in_gui_thread(app: QObject) -> GuiThreadCollector:
    """Start a :class:`GuiThreadCollector` owned by ``app`` (the QApplication); idempotent."""
    existing = app.findChild(GuiThreadCollector)
    if existing is not None:
        return existing
    collector = GuiThreadCollector(app)
    collector.start()
    app.aboutToQuit.connect(collector.stop)
    return collector
