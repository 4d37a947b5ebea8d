"""The confusion matrix as a clickable heat map: rows are true classes, columns predictions.

:class:`ConfusionModel` serves ``confusion[true][predicted]`` with each cell's share of its row;
:class:`HeatmapDelegate` paints it (green on the diagonal, red off it, stronger for larger shares);
:class:`ConfusionMatrix` is the titled view, emitting ``cell_clicked(true, predicted)``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import Evaluation

_Index = QModelIndex | QPersistentModelIndex


class ConfusionModel(QAbstractTableModel):
    """``confusion[true][predicted]`` as a table: rows are true classes, columns predictions."""

    ShareRole = Qt.ItemDataRole.UserRole + 1
    """The cell's share of its row (recall-normalised), 0..1, for the heat map."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._classes: tuple[str, ...] = ()
        self._confusion: tuple[tuple[int, ...], ...] = ()

    def set_evaluation(self, evaluation: Evaluation | None) -> None:
        self.beginResetModel()
        self._classes = evaluation.classes if evaluation else ()
        self._confusion = evaluation.confusion if evaluation else ()
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._confusion)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._classes)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        count = self._confusion[row][column]
        total = sum(self._confusion[row])
        if role == Qt.ItemDataRole.DisplayRole:
            return str(count)
        if role == self.ShareRole:
            return count / total if total else 0.0
        if role == Qt.ItemDataRole.ToolTipRole:
            true, predicted = self._classes[row], self._classes[column]
            what = "correct" if row == column else "mistakes"
            return (
                f"{count} {true} image(s) predicted as {predicted} ({what});"
                " click to show them in the browser"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self._classes):
            return self._classes[section]
        if role == Qt.ItemDataRole.ToolTipRole and 0 <= section < len(self._classes):
            side = "true" if orientation == Qt.Orientation.Vertical else "predicted"
            return f"{side}: {self._classes[section]}"
        return None


class HeatmapDelegate(QStyledItemDelegate):
    """Paints a confusion cell: green on the diagonal, red off it, stronger for larger shares."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        share = float(index.data(ConfusionModel.ShareRole) or 0.0)
        count = index.data(Qt.ItemDataRole.DisplayRole) or "0"
        correct = index.row() == index.column()
        base = QColor(46, 160, 67) if correct else QColor(214, 39, 40)
        painter.save()
        rect: QRect = option.rect  # type: ignore[attr-defined]
        if share > 0:
            fill = QColor(base)
            fill.setAlphaF(0.12 + 0.78 * share)
            painter.fillRect(rect, fill)
        if option.state & QStyle.StateFlag.State_MouseOver:  # type: ignore[attr-defined]
            painter.setPen(option.palette.highlight().color())  # type: ignore[attr-defined]
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
        dark_fill = share > 0.55
        painter.setPen(QColor("white") if dark_fill else option.palette.text().color())  # type: ignore[attr-defined]
        font = QFont(option.font)  # type: ignore[attr-defined]
        font.setBold(True)
        painter.setFont(font)
        text = f"{count}\n{100 * share:.0f}%" if count != "0" else "0"
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        return QSize(64, 44)


class ConfusionMatrix(QWidget):
    """The titled heat map; a click on a cell emits ``cell_clicked(true, predicted)``."""

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ConfusionModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(HeatmapDelegate(self.view))
        self.view.setMouseTracking(True)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setCursor(Qt.CursorShape.PointingHandCursor)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.view.horizontalHeader().setMinimumSectionSize(48)
        self.view.verticalHeader().setMinimumSectionSize(36)
        self.view.clicked.connect(self._on_view_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel(
            "<b>Confusion matrix</b> — rows: true class, columns: predicted; click a cell"
        )
        title.setWordWrap(True)  # wraps on a narrow window instead of widening it
        layout.addWidget(title)
        layout.addWidget(self.view)

    def set_evaluation(self, evaluation: Evaluation | None) -> None:
        self.model.set_evaluation(evaluation)

    @Slot(QModelIndex)
    def _on_view_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.cell_clicked.emit(index.row(), index.column())
