"""The image dock's text lines never make the window taller than a 1024×700 screen.

Found in a real 1024×700 X window: pressing H (the heat-map line appears under the image) made
the window 714 px tall, so the status bar went below the screen's edge.
"""

from __future__ import annotations

from pathlib import Path

from tests.gui.browser_data import open_window, unlabeled_library
from tests.gui.layout_settle import settle_layout


def test_the_heat_map_line_keeps_the_window_inside_a_700_px_screen(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    window.resize(1024, 700)
    viewer = window.panes["viewer"]
    window.browser.set_current_row(0)
    qtbot.waitUntil(lambda: viewer.shown is not None and viewer.settled, timeout=5000)

    viewer.toggle_heatmap()  # no model: the line says what to do, under the image
    label = viewer.heatmap_label
    qtbot.waitUntil(lambda: label.isVisible(), timeout=5000)
    settle_layout(qtbot, window)  # every posted layout request has run, however long it takes

    assert label.text() == "No heat map: train a model first (the Train tab)."
    assert window.minimumSizeHint().height() <= 700
    assert window.height() == 700
    # Every line still shows its whole wrapped text, not one clipped line.
    for line in (viewer.title_label, viewer.details_label, label, viewer.hint_label):
        assert line.height() >= line.heightForWidth(line.width()), line.objectName()
