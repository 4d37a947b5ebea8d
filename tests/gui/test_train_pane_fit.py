"""The Train pane and the library's search box in a 1024×700 window, as a new user found them.

In a real 1024×700 X window the runs table showed one row and needed horizontal scrolling to
reach the accuracy column, the missing-weights message was said twice (the line by the Train
button and the box with its buttons), and the search box's placeholder was cut to "Search file
names (…".
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QStyle

from cnndesk.gui.readiness import DEFAULT_BACKBONE
from tests.gui.browser_data import open_window, unlabeled_library
from tests.gui.layout_settle import settle_layout
from tests.gui.pane_data import labeled_library, make_context

LONG_BACKBONE = "vit_small_patch16_224.augreg_in21k_ft_in1k"


def _add_runs(library, count: int) -> None:  # type: ignore[no-untyped-def]
    for index in range(count):
        run_id = library.create_run({"backbone": LONG_BACKBONE, "mode": "quick"})
        evaluation = {"images": 153, "correct": 147 - index, "on": "validation"}
        library.finish_run(
            run_id,
            status="cancelled",  # the longest status words
            metrics={"evaluation": evaluation},
            model_path=f"/somewhere/quite/long/models/run-{run_id}-{LONG_BACKBONE}",
        )


def _train_pane_at_1024(qtbot, library):  # type: ignore[no-untyped-def]
    window = open_window(qtbot, library)
    window.resize(1024, 700)
    assert window.show_pane("training")
    pane = window.panes["training"]
    qtbot.waitUntil(pane.isVisible, timeout=5000)
    # Showing the pane starts its background probe (device, weights); what it finds changes the
    # device line and shows the missing-weights box (this test's home has no weights). Measure
    # the pane as the user sees it once the probe has answered, not whenever it happens to.
    qtbot.waitUntil(lambda: pane.options is not None, timeout=60000)
    settle_layout(qtbot, window)
    return window, pane


def test_the_accuracy_column_and_several_runs_show_without_scrolling(qtbot, tmp_path: Path) -> None:
    library = unlabeled_library(tmp_path)
    _add_runs(library, 3)
    window, pane = _train_pane_at_1024(qtbot, library)
    assert window.width() == 1024 and window.height() == 700
    table = pane.history_table
    assert table.rowCount() == 3
    assert table.horizontalScrollBar().value() == 0
    accuracy = next(
        c
        for c in range(table.columnCount())
        if "Accuracy" in (table.horizontalHeaderItem(c).text())
    )
    right_edge = table.columnViewportPosition(accuracy) + table.columnWidth(accuracy)
    assert table.columnViewportPosition(accuracy) >= 0 and right_edge <= table.viewport().width()
    assert "%" in table.item(0, accuracy).text()
    # The longest device words wrap instead of pushing the image dock out of the window.
    pane.device_label.setText(
        "Device: cpu (15 of 16 threads; one core is left for decoding images and the window)"
    )
    settle_layout(qtbot, window)
    tabs = window.centralWidget()
    assert tabs.minimumSizeHint().width() <= tabs.width()
    # More than one run is visible at once.
    second_bottom = table.rowViewportPosition(1) + table.rowHeight(1)
    assert second_bottom <= table.viewport().height()
    # A long backbone is elided in its cell; its tooltip says the whole name and the model.
    backbone = 2
    assert table.columnWidth(backbone) < table.fontMetrics().horizontalAdvance(LONG_BACKBONE)
    assert table.columnWidth(backbone) > table.fontMetrics().horizontalAdvance(DEFAULT_BACKBONE)
    tip = table.item(0, backbone).toolTip()
    assert LONG_BACKBONE in tip and "/somewhere/quite/long/models/run-3" in tip


def test_missing_weights_are_said_once(qtbot, tmp_path: Path) -> None:
    from cnndesk.gui.training_pane import (
        DEFAULT_BACKBONE,
        BackboneOption,
        TrainingOptions,
        TrainingPane,
    )

    pane = TrainingPane(make_context(labeled_library(tmp_path, per_class=3)))
    qtbot.addWidget(pane)
    options = TrainingOptions("cpu", (BackboneOption(DEFAULT_BACKBONE, "small", None),), "x")
    pane._apply_options(options)  # what the probe finds on a computer without the weights
    assert not pane.weights_banner.isHidden() and not pane.train_button.isEnabled()
    summary = pane.summary_label.text()
    box = pane.weights_banner_label.text()
    shown = summary + " " + box
    assert shown.count("not on this computer") == 1, shown
    assert shown.count("train from scratch") + shown.count("from scratch") == 1, shown
    assert DEFAULT_BACKBONE in summary and summary.startswith("Not ready")
    assert "Choose a weights file" in box


def test_the_search_placeholder_fits_its_box_and_the_tooltip_says_it_whole(
    qtbot, tmp_path: Path
) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    window.resize(1024, 700)
    settle_layout(qtbot, window)
    box = window.browser.search_box
    assert box.isVisible() and window.width() == 1024
    frame = box.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, None, box)
    clear_button = box.height()  # the clear button's room is about a square of the box's height
    room = box.width() - 2 * frame - 4 - clear_button  # 4: QLineEdit's own text margins
    assert box.fontMetrics().horizontalAdvance(box.placeholderText()) <= room
    assert "Search file names" in box.toolTip() and "Ctrl+F" in box.toolTip()
