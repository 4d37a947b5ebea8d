"""The Evaluate pane's "Per class" column: precision, recall (with its interval), F1 and images per
class, the most confused class pairs as links, and the reliability diagram under them.

A link ``true,predicted`` emits ``cell_requested(true, predicted)``, like a click on the matrix.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QLabel,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import Evaluation
from cnndesk.gui.evaluation_text import metric_cells, most_confused_html
from cnndesk.gui.reliability import ReliabilityPlot
from cnndesk.gui.results_table import results_table

COLUMNS = ["Class", "Precision", "Recall", "F1", "Images"]


class ClassMetricsBox(QWidget):
    """The per-class table over the most confused pairs, then the reliability diagram."""

    cell_requested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table = results_table(COLUMNS, stretch=(0,))
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)  # nothing to act on
        # On a narrow window the table scrolls sideways (class names elide) instead of making
        # the whole window wider than a 1024-px screen.
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setMinimumWidth(160)
        table.setToolTip(
            "Precision: of the images predicted as this class, how many are it.\n"
            "Recall: of the images of this class, how many were found (95 % interval).\n"
            "F1: both in one number."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Per class</b>"))
        self.confused_label = QLabel()
        self.confused_label.setWordWrap(True)
        self.confused_label.setTextFormat(Qt.TextFormat.RichText)
        self.confused_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.confused_label.linkActivated.connect(self._on_confused_label_link_activated)
        self.inner = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.inner.addWidget(table, 1)
        self.inner.addWidget(self.confused_label, 1)
        layout.addLayout(self.inner, 1)
        self.reliability = ReliabilityPlot()
        layout.addWidget(self.reliability)

    def set_side_by_side(self, side_by_side: bool) -> None:
        """The table beside the most confused pairs (many classes) or above them."""
        self.inner.setDirection(
            QBoxLayout.Direction.LeftToRight if side_by_side else QBoxLayout.Direction.TopToBottom
        )

    def set_evaluation(self, evaluation: Evaluation | None) -> None:
        """Fill the table and the most confused pairs (``None``: empty them)."""
        rows = len(evaluation.per_class) if evaluation else 0
        self.table.setRowCount(rows)
        for row in range(rows):
            for column, value in enumerate(metric_cells(evaluation, row)):  # type: ignore[arg-type]
                item = QTableWidgetItem(value)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        if evaluation is None:
            self.confused_label.clear()
        else:
            self.confused_label.setText(most_confused_html(evaluation))

    def whole_width(self) -> int:
        """The width that shows every column of the table whole."""
        table, header = self.table, self.table.horizontalHeader()
        widths = [
            max(table.sizeHintForColumn(c), header.sectionSizeHint(c))
            for c in range(table.columnCount())
        ]
        return sum(widths) + 2 * table.frameWidth() + 4

    @Slot(str)
    def _on_confused_label_link_activated(self, link: str) -> None:
        true, predicted = (int(v) for v in link.split(","))
        self.cell_requested.emit(true, predicted)
