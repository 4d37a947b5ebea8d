"""Panes are independent: when one pane's module cannot be imported, the window still opens and
every other pane is the real one (each pane shares only gui/context.py and non-pane modules; the
import-linter contract "Panes are independent" checks the same statically)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from cnndesk.gui.main_window import PANES
from tests.gui.browser_data import unlabeled_library

PANE_MODULES = sorted({spec.module for spec in PANES})


@pytest.mark.parametrize("broken", [spec.id for spec in PANES])
def test_every_other_pane_works_when_one_pane_cannot_be_imported(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.main_window import MainWindow

    broken_module = next(spec.module for spec in PANES if spec.id == broken)
    for name in PANE_MODULES:  # import every pane afresh, without the broken one
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, broken_module, None)  # importing it raises ImportError

    context = AppContext(unlabeled_library(tmp_path))
    with qtbot.waitSignal(context.classes_loaded, timeout=5000):
        window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()

    for spec in PANES:
        pane = window.pane(spec.id)
        if spec.id == broken:
            assert isinstance(pane, QLabel)
            assert f"The {spec.title} pane is not available" in pane.text()
        else:
            assert type(pane).__name__ == spec.class_name, f"{spec.id} without {broken}: {pane}"
    assert window.counts_label.text().startswith("6 images")  # the status bar still works
