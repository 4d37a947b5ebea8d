"""The read-only results table of the batch sort summary and the run history."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidgetItem

from cnndesk.gui.results_table import results_table


def test_a_click_picks_the_whole_row_and_a_double_click_edits_nothing(qtbot) -> None:
    table = results_table(["Folder", "Images", "Share"], stretch=(0, 2))
    qtbot.addWidget(table)
    table.setRowCount(2)
    for row in range(2):
        for column in range(3):
            table.setItem(row, column, QTableWidgetItem(f"{row},{column}"))
    table.resize(400, 200)
    table.show()
    qtbot.waitExposed(table)
    cell = table.visualItemRect(table.item(1, 1)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert sorted(i.text() for i in table.selectedItems()) == ["1,0", "1,1", "1,2"]
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert table.state() != QAbstractItemView.State.EditingState
    assert table.item(1, 1).text() == "1,1"
    assert table.verticalHeader().isHidden()  # no row numbers
    header = table.horizontalHeader()
    modes = [header.sectionResizeMode(c) for c in range(3)]
    Mode = QHeaderView.ResizeMode
    assert modes == [Mode.Stretch, Mode.ResizeToContents, Mode.Stretch]
    assert [table.horizontalHeaderItem(c).text() for c in range(3)] == ["Folder", "Images", "Share"]
