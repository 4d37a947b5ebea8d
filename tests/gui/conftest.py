"""GUI tests collect garbage in the GUI thread only, as the app does (``cnndesk.gui.gui_gc``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _garbage_collected_in_the_gui_thread(qapp) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Each GUI test: automatic collection off, a GUI-thread timer collecting; at its end one
    more collection here and the interpreter's own collection back for the non-GUI tests."""
    from cnndesk.gui.gui_gc import GuiThreadCollector

    collector = GuiThreadCollector()  # not the app's child: collect_in_gui_thread makes its own
    collector.start()
    yield
    collector.stop()
    collector.deleteLater()
