"""The runs table: two selected runs compared on the same held-out images."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QPlainTextEdit

from cnndesk.gui.run_history import RunHistory
from cnndesk.library import Library
from tests.gui.pane_data import make_context
from tests.test_run_compare import two_run_library


def test_two_selected_runs_are_compared_on_the_same_images(qtbot, tmp_path) -> None:
    library = Library.open(two_run_library(tmp_path))
    history = RunHistory(make_context(library))
    qtbot.addWidget(history)
    history.refresh()
    assert history.table.rowCount() == 2 and not history.compare_button.isEnabled()
    history.table.selectRow(0)
    assert not history.compare_button.isEnabled()  # one run: nothing to compare with
    index = history.table.model().index(1, 0)
    history.table.selectionModel().select(
        index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    )
    assert history.compare_button.isEnabled()
    first, second = history.selected_runs()
    history.compare_button.click()
    comparison = history.last_comparison
    assert (comparison.first_run, comparison.second_run) == (first, second)
    assert comparison.images == 10  # the library's 6 val + 4 test images, for both runs
    dialog = history.comparison_dialog
    assert dialog.windowTitle() == f"Run {first} vs run {second}"
    text = dialog.findChild(QPlainTextEdit).toPlainText()
    assert "on the same 10 validation+test images" in text and "changed their answer" in text
    dialog.close()
    library.close()
