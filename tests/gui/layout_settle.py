"""Wait for a window's layout to settle, however fast or slow the machine is.

A fixed ``qtbot.wait(50)`` lets posted layout requests run only when the machine gets through
them in 50 ms; on a loaded CI machine the first pass of the event loop can take longer and the
test then reads sizes from before the layout settled. :func:`settle_layout` instead processes
events until no widget of the window moves or resizes for a few passes in a row.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QWidget

STABLE_PASSES = 3


def _geometries(window: QWidget, also: Callable[[], object] | None) -> tuple:
    widgets = [window, *window.findChildren(QWidget)]
    shown = tuple((w.isVisible(), w.geometry().getRect()) for w in widgets)
    return shown, also() if also is not None else None


def settle_layout(  # type: ignore[no-untyped-def]
    qtbot, window: QWidget, *, also: Callable[[], object] | None = None, timeout: int = 10000
) -> None:
    """Process events until ``window`` and every widget in it keep their visibility and
    geometry (and ``also()``, when given, its value: a plot's item layout, say) for
    :data:`STABLE_PASSES` passes, each of which delivers every posted event."""
    state = {"last": None, "stable": 0}

    def settled() -> bool:
        QApplication.sendPostedEvents()
        QApplication.processEvents()
        now = _geometries(window, also)
        state["stable"] = state["stable"] + 1 if now == state["last"] else 0
        state["last"] = now
        return state["stable"] >= STABLE_PASSES

    qtbot.waitUntil(settled, timeout=timeout)
