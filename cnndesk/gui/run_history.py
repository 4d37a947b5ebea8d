"""The run history: the library's training runs as a table, the current model's run marked ●.

Each row is one run (newest first) with its backbone, mode, held-out accuracy (one rule for every
run, :func:`cnndesk.model_folder.run_evaluation_text`) and status. Double-clicking a run makes its
model the app's current one through ``AppContext.set_current_model``. Selecting two runs
(Ctrl+click) and **Compare** shows them side by side on the same held-out images
(:mod:`cnndesk.run_compare`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import RunRecord
from cnndesk.gui.readiness import DEFAULT_BACKBONE
from cnndesk.gui.results_table import results_table
from cnndesk.model_folder import run_evaluation_text, run_mode_label
from cnndesk.run_compare import RunComparison, compare_library_runs, describe

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext

log = logging.getLogger(__name__)

STATUS_WORDS = {
    "done": "done",
    "cancelled": "stopped (best epoch kept)",
    "failed": "failed",
    "running": "training…",
    "interrupted": "interrupted (its process ended)",
}
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ["Run", "When", "Backbone", "Mode", "Accuracy [95 % CI] n", "Status"]
ACCURACY_COLUMN = 4
SHOWN_ORDER = [0, ACCURACY_COLUMN, 5, 3, 2, 1]
"""The columns as they are shown: the accuracy right after the run, then status, mode, backbone
and when (the cells keep ``COLUMNS``' order, only the header's sections move)."""
BACKBONE_WIDTH_TEXT = DEFAULT_BACKBONE
"""The backbone column is as wide as this name in bold; a longer one is elided (its tooltip says
it whole)."""
ROWS_SHOWN = 3
"""The table is at least this many rows tall, so the runs can be compared without scrolling."""


def run_row(run: RunRecord, *, current: bool) -> list[str]:
    """The table's cells for one run."""
    return [
        f"#{run.id}" + (" ●" if current else ""),
        (run.created or "")[:16].replace("T", " "),
        str((run.config or {}).get("backbone", "")),
        run_mode_label(run),
        run_evaluation_text(run),
        STATUS_WORDS.get(run.status, run.status),
    ]


def run_tooltip(run: RunRecord, cell: str, *, current: bool) -> str:
    """A cell's tooltip: its whole text (the table elides long ones) and the run's model folder."""
    lines = [cell]
    if current:
        lines.append("The current model")
    lines.append(f"Model: {run.model_path}" if run.model_path else "No model saved")
    return "\n".join(lines)


class RunHistory(QWidget):
    """The "Runs" heading over the table of runs; :meth:`refresh` re-reads the library's runs."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.table = results_table(COLUMNS)
        self._arrange_columns()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setToolTip(
            "Double-click a run to make its model the current one (marked ●).\n"
            "Accuracy: on held-out images by one rule for every run (see the Evaluate pane),\n"
            "with its 95 % interval, the number of images n and which images.\n"
            "Select two runs (Ctrl+click) and Compare to see them on the same images."
        )
        self.table.cellDoubleClicked.connect(self._on_table_cell_double_clicked)
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip(
            "The two selected runs on the same validation+test images: accuracy with its 95 %"
            " interval, per class, and the images whose answer changed"
        )
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self._on_compare_button_clicked)
        self.last_comparison: RunComparison | None = None
        heading = QHBoxLayout()
        heading.addWidget(QLabel("<b>Runs</b>"))
        heading.addStretch(1)
        heading.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(heading)
        layout.addWidget(self.table)

    def _arrange_columns(self) -> None:
        """The accuracy column first after the run (visible without scrolling in a narrow pane),
        the backbone column capped and elided, and room for ``ROWS_SHOWN`` rows."""
        header = self.table.horizontalHeader()
        for visual, logical in enumerate(SHOWN_ORDER):
            header.moveSection(header.visualIndex(logical), visual)
        # The columns after the accuracy keep their whole text and scroll if the pane is narrow.
        header.setStretchLastSection(False)
        self.table.setWordWrap(False)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        bold = QFont(self.table.font())
        bold.setBold(True)
        padding = 3 * self.table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 8
        header.resizeSection(2, QFontMetrics(bold).horizontalAdvance(BACKBONE_WIDTH_TEXT) + padding)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        rows = self.table.verticalHeader().defaultSectionSize() * ROWS_SHOWN
        scroll_bar = self.table.horizontalScrollBar().sizeHint().height()
        frame = 2 * self.table.frameWidth()
        self.table.setMinimumHeight(header.sizeHint().height() + rows + scroll_bar + frame)

    def refresh(self) -> None:
        """Show the library's runs, newest first, the current model's run in bold with ●."""
        try:
            runs = list(reversed(self.context.library.runs()))
        except Exception as exc:
            log.warning("cannot read the library's runs: %s", exc)
            runs = []
        # No model chosen yet: the newest run's is the one every pane shows (and `cnndesk runs`).
        model = self.context.current_model or next(
            (r.model_path for r in runs if r.model_path and Path(r.model_path).is_dir()), None
        )
        current = str(model) if model else None
        self.table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            is_current = current is not None and run.model_path == current
            for column, value in enumerate(run_row(run, current=is_current)):
                item = QTableWidgetItem(value)
                item.setToolTip(run_tooltip(run, value, current=is_current))
                item.setData(Qt.ItemDataRole.UserRole, run.model_path)
                item.setData(RUN_ID_ROLE, run.id)
                if run.model_path is None:
                    item.setForeground(self.palette().placeholderText())
                if is_current:
                    bold = QFont(item.font())
                    bold.setBold(True)
                    item.setFont(bold)
                self.table.setItem(row, column, item)

    @Slot(int, int)
    def _on_table_cell_double_clicked(self, row: int, column: int) -> None:
        item = self.table.item(row, column)
        model_path = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if model_path and Path(model_path).is_dir():
            self.context.set_current_model(model_path)
            self.context.status_message.emit(f"Current model: {Path(model_path).name}")

    def selected_runs(self) -> list[int]:
        """The ids of the selected runs, oldest first."""
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        ids = [self.table.item(r, 0).data(RUN_ID_ROLE) for r in rows if self.table.item(r, 0)]
        return sorted(int(i) for i in ids if i is not None)

    @Slot()
    def _on_table_item_selection_changed(self) -> None:
        self.compare_button.setEnabled(len(self.selected_runs()) == 2)

    @Slot()
    def _on_compare_button_clicked(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 2:
            return
        try:
            self.last_comparison = compare_library_runs(self.context.library, *runs)
        except Exception as exc:  # a run removed meanwhile, a library that went away
            self.context.status_message.emit(f"Cannot compare runs {runs[0]} and {runs[1]}: {exc}")
            return
        dialog = QDialog(self)
        dialog.setWindowTitle(f"Run {runs[0]} vs run {runs[1]}")
        text = QPlainTextEdit("\n".join(describe(self.last_comparison)))
        text.setReadOnly(True)
        text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(text)
        layout.addWidget(buttons)
        dialog.resize(760, 420)
        self.comparison_dialog = dialog
        dialog.open()
