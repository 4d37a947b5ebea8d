"""Labeling the last unlabeled image says so in characters the status bar's font can draw.

Found in a real 1024×700 X window: "Every image shown here is labeled. 🎉" ended in a box, as
the machine (like many Linux desktops) has no emoji font.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontMetrics

from tests.gui.browser_data import open_window, unlabeled_library


def test_labeling_the_last_image_says_so_in_drawable_characters(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path, count=1))
    browser = window.browser
    browser.set_current_row(0)
    with qtbot.waitSignal(window.context.status_message, timeout=5000) as said:
        assert browser.label_with_position(0)
    message = said.args[0]
    assert message == "Every image shown here is labeled."
    metrics = QFontMetrics(window.statusBar().font())
    assert all(metrics.inFontUcs4(ord(ch)) for ch in message), message
