"""The evaluation pane: how good the current model is, and where exactly it is wrong.

It shows the model's evaluation on held-out images, chosen by :mod:`cnndesk.heldout`'s rule (the
test split when it is large enough, else test + validation; in quick mode 5-fold
cross-validation when those are too few): overall accuracy with the number of images and its 95 %
interval, a warning when they are few, per-class precision/recall (with its interval)/F1, a
reliability diagram with the calibration error before and after temperature scaling, a confusion
matrix drawn as a heat map, and the misclassified images with the highest loss first (fastai's
"top losses").

Everything here is a way into the browser: clicking a confusion-matrix cell asks it
(``AppContext.show_images``) for exactly that cell's images ("true ants, predicted bees"), where
the class hotkeys relabel them; clicking a mistake shows that image. The numbers come from the
model folder's ``evaluation.json`` (written by training, with every evaluated image's
probabilities and loss), or from the library's stored predictions for that model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Slot,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnndesk import heldout
from cnndesk.domain import (
    ClassMetrics,
    CnndeskError,
    Evaluation,
    ImageQuery,
    ImageRecord,
    SamplePrediction,
)
from cnndesk.gui.reliability import ReliabilityPlot
from cnndesk.model_folder import read_model_info

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.thumbnails import ThumbnailLoader

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
GALLERY_LIMIT = 200
"""The misclassified gallery shows at most this many images (the highest losses)."""
THUMB_SIDE = 96
MOST_CONFUSED_LIMIT = 8
TARGET_PRECISION = 0.95
"""The precision the pane shows the coverage of ("cnndesk predict --target-precision")."""
SIDE_BY_SIDE_LIMIT = 5
"""Up to this many classes, the per-class table sits beside the confusion matrix."""

_Index = QModelIndex | QPersistentModelIndex

NO_MODEL_TEXT = (
    "<h3>No evaluation yet</h3><p>Train a model in the Training pane. Its accuracy on images it"
    " did not learn from, where it confuses classes, and its biggest mistakes appear here.</p>"
)
NO_EVALUATION_TEXT = (
    "<h3>No evaluation for {name}</h3><p>This model was saved without one (an older cnndesk, or"
    " training stopped before the end). Train again to see where the model is wrong.</p>"
)

# ------------------------------------------------------------------------------ reading


def evaluation_from_json(data: dict[str, Any]) -> Evaluation:
    """An :class:`Evaluation` from ``Evaluation.as_json`` (with or without all predictions)."""
    return Evaluation.from_json(data)


def evaluation_from_predictions(classes: list[str], rows: list[dict[str, Any]]) -> Evaluation:
    """An :class:`Evaluation` rebuilt from ``Library.predictions`` rows that know the true class."""
    index = {name: i for i, name in enumerate(classes)}
    n = len(classes)
    confusion = [[0] * n for _ in range(n)]
    predictions = []
    for row in rows:
        true, predicted = index.get(row.get("true_class")), index.get(row.get("class"))
        if true is None or predicted is None:
            continue
        confusion[true][predicted] += 1
        probabilities = row.get("probabilities") or {}
        predictions.append(
            SamplePrediction(
                path=str(row.get("path", "")),
                key="",
                image_id=row.get("image_id"),
                label=true,
                predicted=predicted,
                probabilities=tuple(float(probabilities.get(c, 0.0)) for c in classes),
                loss=float(row.get("loss") or 0.0),
            )
        )
    per_class = []
    for i, name in enumerate(classes):
        tp = confusion[i][i]
        support = sum(confusion[i])
        predicted_as = sum(confusion[r][i] for r in range(n))
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassMetrics(name, precision, recall, f1, support))
    total = sum(map(sum, confusion))
    correct = sum(confusion[i][i] for i in range(n))
    losses = [p.loss for p in predictions]
    return Evaluation(
        split="",
        classes=tuple(classes),
        accuracy=correct / total if total else 0.0,
        loss=sum(losses) / len(losses) if losses else 0.0,
        per_class=tuple(per_class),
        confusion=tuple(tuple(row) for row in confusion),
        predictions=tuple(predictions),
    )


def read_evaluation(model_dir: str | Path, library: Any = None) -> Evaluation | None:
    """The evaluation of a model folder: its ``evaluation.json``, else the library's predictions."""
    folder = Path(model_dir)
    path = folder / EVALUATION_FILE
    if path.is_file():
        try:
            return evaluation_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot read %s: %s", path, exc)
    if library is None:
        return None
    try:
        info = read_model_info(folder)
        rows = [r for r in library.predictions(model_path=str(folder)) if r.get("true_class")]
    except (OSError, ValueError, CnndeskError) as exc:
        log.warning("cannot read the evaluation of %s: %s", folder, exc)
        return None
    if not rows:
        return None
    return evaluation_from_predictions(list(info.classes), rows)


def latest_model_folder(library: Any) -> Path | None:
    """The newest run's model folder that still exists (what panes show when no model is
    current yet, e.g. right after the app starts)."""
    try:
        runs = library.runs()
    except Exception as exc:  # an unreadable library: the panes show their empty state
        log.warning("cannot read the library's runs: %s", exc)
        return None
    for run in reversed(runs):
        if run.model_path and (Path(run.model_path) / "model.json").is_file():
            return Path(run.model_path)
    return None


def most_confused(evaluation: Evaluation) -> list[tuple[int, int, int]]:
    """``(true, predicted, count)`` for every non-empty off-diagonal cell, largest first."""
    pairs = [
        (t, p, n)
        for t, row in enumerate(evaluation.confusion)
        for p, n in enumerate(row)
        if t != p and n > 0
    ]
    return sorted(pairs, key=lambda cell: (-cell[2], cell[0], cell[1]))


@dataclass(frozen=True)
class Cell:
    true: int
    predicted: int


def cell_image_ids(evaluation: Evaluation, cell: Cell) -> tuple[int, ...]:
    """The library ids of the evaluated images in one confusion-matrix cell, highest loss first."""
    hits = [
        p
        for p in evaluation.predictions
        if p.label == cell.true and p.predicted == cell.predicted and p.image_id is not None
    ]
    hits.sort(key=lambda p: p.loss, reverse=True)
    return tuple(int(p.image_id) for p in hits)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- confusion matrix


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


# ------------------------------------------------------------------------------- the pane


def _square_icon(pixmap: QPixmap) -> QIcon:
    """The thumbnail centred on a square canvas, so every gallery cell lines up."""
    scaled = pixmap.scaled(
        THUMB_SIDE,
        THUMB_SIDE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    canvas = QPixmap(THUMB_SIDE, THUMB_SIDE)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    painter.drawPixmap(
        (THUMB_SIDE - scaled.width()) // 2, (THUMB_SIDE - scaled.height()) // 2, scaled
    )
    painter.end()
    return QIcon(canvas)


class EvaluationPane(QWidget):
    """Accuracy, per-class metrics, a clickable confusion matrix and the biggest mistakes."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evaluation_pane")
        self.context = context
        self.evaluation: Evaluation | None = None
        self.model_dir: Path | None = None
        self._thumbnails: ThumbnailLoader | None = None
        self._gallery_items: dict[int, tuple[QListWidgetItem, ImageRecord]] = {}

        self.title_label = QLabel()
        self.title_label.setWordWrap(True)
        self.accuracy_label = QLabel()
        big = QFont(self.accuracy_label.font())
        big.setPointSizeF(big.pointSizeF() * 1.6)
        big.setBold(True)
        self.accuracy_label.setFont(big)
        self.accuracy_label.setWordWrap(True)  # "96.1 % ± 3.2 (95 % CI …)" wraps on 1024 px
        self.stale_label = QLabel()
        self.stale_label.setWordWrap(True)
        self.stale_label.setStyleSheet("color: #b36b00")
        self.stale_label.hide()
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #c0392b; font-weight: bold")
        self.warning_label.hide()
        self.mistakes_button = QPushButton("Show all mistakes")
        self.mistakes_button.setToolTip("Show every misclassified image in the browser")
        self.mistakes_button.clicked.connect(self._on_mistakes_button_clicked)
        header_text = QVBoxLayout()
        header_text.addWidget(self.accuracy_label)
        header_text.addWidget(self.title_label)
        header_text.addWidget(self.warning_label)
        header = QHBoxLayout()
        header.addLayout(header_text, 1)
        header.addWidget(self.mistakes_button, 0, Qt.AlignmentFlag.AlignTop)

        self.confusion_model = ConfusionModel(self)
        self.confusion_view = QTableView()
        self.confusion_view.setModel(self.confusion_model)
        self.confusion_view.setItemDelegate(HeatmapDelegate(self.confusion_view))
        self.confusion_view.setMouseTracking(True)
        self.confusion_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.confusion_view.setCursor(Qt.CursorShape.PointingHandCursor)
        self.confusion_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.confusion_view.horizontalHeader().setMinimumSectionSize(48)
        self.confusion_view.verticalHeader().setMinimumSectionSize(36)
        self.confusion_view.clicked.connect(self._on_confusion_view_clicked)
        confusion_box = QWidget()
        confusion_layout = QVBoxLayout(confusion_box)
        confusion_layout.setContentsMargins(0, 0, 0, 0)
        confusion_title = QLabel(
            "<b>Confusion matrix</b> — rows: true class, columns: predicted; click a cell"
        )
        confusion_title.setWordWrap(True)  # wraps on a narrow window instead of widening it
        confusion_layout.addWidget(confusion_title)
        confusion_layout.addWidget(self.confusion_view)

        self.metrics_table = QTableWidget(0, 5)
        self.metrics_table.setHorizontalHeaderLabels(
            ["Class", "Precision", "Recall", "F1", "Images"]
        )
        self.metrics_table.verticalHeader().hide()
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.metrics_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.metrics_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch
        )
        # On a narrow window the table scrolls sideways (class names elide) instead of making
        # the whole window wider than a 1024-px screen.
        self.metrics_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.metrics_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.metrics_table.setMinimumWidth(160)
        self.metrics_table.setToolTip(
            "Precision: of the images predicted as this class, how many are it.\n"
            "Recall: of the images of this class, how many were found (95 % interval).\n"
            "F1: both in one number."
        )
        metrics_box = QWidget()
        metrics_layout = QVBoxLayout(metrics_box)
        metrics_layout.setContentsMargins(0, 0, 0, 0)
        metrics_layout.addWidget(QLabel("<b>Per class</b>"))
        self.confused_label = QLabel()
        self.confused_label.setWordWrap(True)
        self.confused_label.setTextFormat(Qt.TextFormat.RichText)
        self.confused_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.confused_label.linkActivated.connect(self._on_confused_label_link_activated)
        self.metrics_inner = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.metrics_inner.addWidget(self.metrics_table, 1)
        self.metrics_inner.addWidget(self.confused_label, 1)
        metrics_layout.addLayout(self.metrics_inner, 1)
        self.reliability = ReliabilityPlot()
        metrics_layout.addWidget(self.reliability)

        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.gallery.setGridSize(QSize(THUMB_SIDE + 48, THUMB_SIDE + 52))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setWordWrap(True)
        self.gallery.setUniformItemSizes(True)
        self.gallery.setToolTip("Click an image to show it in the browser and relabel it there")
        self.gallery.itemActivated.connect(self._on_gallery_item_activated)
        self.gallery.itemClicked.connect(self._on_gallery_item_activated)
        self.gallery_label = QLabel("<b>Biggest mistakes</b> (highest loss first)")
        gallery_box = QWidget()
        gallery_layout = QVBoxLayout(gallery_box)
        gallery_layout.setContentsMargins(0, 0, 0, 0)
        gallery_layout.addWidget(self.gallery_label)
        gallery_layout.addWidget(self.gallery)

        self.tables = tables = QSplitter(Qt.Orientation.Horizontal)
        tables.addWidget(confusion_box)
        tables.addWidget(metrics_box)
        tables.setStretchFactor(0, 3)
        tables.setStretchFactor(1, 2)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.tables)
        self.splitter.addWidget(gallery_box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        self.empty_label = QLabel(NO_MODEL_TEXT)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.stale_label)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.empty_label, 1)

        context.model_changed.connect(self._on_context_model_changed)
        context.library_opened.connect(self._on_context_library_opened)
        context.labels_changed.connect(self._on_context_labels_changed)
        self.load_model(context.current_model or self._latest_model())

    # ------------------------------------------------------------------------------ loading

    def _latest_model(self) -> Path | None:
        return latest_model_folder(self.context.library)

    def load_model(self, model_dir: str | Path | None) -> None:
        """Show the evaluation of a model folder (``None``: the empty state)."""
        self.model_dir = Path(model_dir) if model_dir else None
        evaluation = read_evaluation(model_dir, self.context.library) if model_dir else None
        self.set_evaluation(evaluation)

    def set_evaluation(self, evaluation: Evaluation | None) -> None:
        self.evaluation = evaluation
        self.stale_label.hide()
        has = evaluation is not None and bool(evaluation.classes)
        self.splitter.setVisible(has)
        self.empty_label.setVisible(not has)
        self.empty_label.setText(
            NO_MODEL_TEXT
            if self.model_dir is None
            else NO_EVALUATION_TEXT.format(name=self.model_dir.name)
        )
        self.mistakes_button.setVisible(has)
        self.confusion_model.set_evaluation(evaluation if has else None)
        # Many classes need the matrix's full width: the per-class numbers go underneath it.
        many = has and evaluation is not None and len(evaluation.classes) > SIDE_BY_SIDE_LIMIT
        self.tables.setOrientation(Qt.Orientation.Vertical if many else Qt.Orientation.Horizontal)
        self.metrics_inner.setDirection(
            QBoxLayout.Direction.LeftToRight if many else QBoxLayout.Direction.TopToBottom
        )
        if many:
            height = max(self.splitter.height(), 600)
            self.splitter.setSizes([height * 3 // 4, height // 4])
            self.tables.setSizes([height // 2, height // 4])
        self._fill_metrics(evaluation if has else None)
        self._fill_most_confused(evaluation if has else None)
        self._fill_gallery(evaluation if has else None)
        self.reliability.set_calibration(
            evaluation.calibration if has and evaluation else None,
            coverage=self._coverage_text(),
        )
        if not has or evaluation is None:
            self.accuracy_label.setText("")
            self.title_label.setText("")
            self.warning_label.hide()
            return
        name = self.model_dir.name if self.model_dir else "the model"
        # "96.2 % ± 2.5 (95 % CI 93.1–98.0 %)" big, "on 157 validation+test images" under it.
        figure, _, where = evaluation.headline.partition(") on ")
        self.accuracy_label.setText(figure + ")" if where else figure)
        wrong = evaluation.images - evaluation.correct
        lines = [f"on {where}" if where else "", f"{name}: {wrong} mistakes"]
        if evaluation.cv_accuracy is not None and evaluation.split != "cross-validation":
            correct = round(evaluation.cv_accuracy * evaluation.cv_images)
            lo, hi = heldout.wilson(correct, evaluation.cv_images)
            lines.append(
                f"5-fold cross-validation over all {evaluation.cv_images} labeled images:"
                f" {100 * evaluation.cv_accuracy:.1f} % (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %)"
            )
        self.title_label.setText("; ".join(line for line in lines if line) + ".")
        self.warning_label.setText(f"⚠ {evaluation.warning}" if evaluation.warning else "")
        self.warning_label.setVisible(bool(evaluation.warning))
        self.mistakes_button.setEnabled(bool(evaluation.misclassified))

    def _coverage_text(self) -> str:
        """ "Right 95 % of the time: answers 81 % of images" from the model's held-out data."""
        if self.model_dir is None:
            return ""
        from cnndesk.ml.calibration import threshold_for  # numpy only, no torch

        try:
            info = read_model_info(self.model_dir).raw
            found = threshold_for(info, TARGET_PRECISION)
        except Exception:  # an older model keeps no held-out predictions: say nothing
            return ""
        if found.threshold is None:
            return f"No confidence threshold makes it right {TARGET_PRECISION:.0%} of the time."
        return (
            f"To be right {TARGET_PRECISION:.0%} of the time it answers {found.coverage:.0%} of"
            f" images (confidence ≥ {found.threshold:.0%}), the rest “unknown”"
        )

    def _fill_metrics(self, evaluation: Evaluation | None) -> None:
        rows = evaluation.per_class if evaluation else ()
        self.metrics_table.setRowCount(len(rows))
        for row, metrics in enumerate(rows):
            lo, hi = evaluation.recall_ci95(row) if evaluation else (0.0, 1.0)
            values = [
                metrics.name,
                f"{100 * metrics.precision:.1f}%",
                f"{100 * metrics.recall:.1f}% ({100 * lo:.0f}–{100 * hi:.0f})",
                f"{metrics.f1:.3f}",
                str(metrics.support),
            ]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.metrics_table.setItem(row, column, item)
        table, header = self.metrics_table, self.metrics_table.horizontalHeader()
        table.resizeColumnsToContents()
        widths = [
            max(table.sizeHintForColumn(c), header.sectionSizeHint(c))
            for c in range(table.columnCount())
        ]
        # Where the window has room, the splitter gives the table every column whole; where it
        # has not, the table scrolls (a minimum width here made the window 1171 px wide).
        whole = sum(widths) + 2 * table.frameWidth() + 4
        sizes = self.tables.sizes()
        if self.tables.orientation() == Qt.Orientation.Horizontal and len(sizes) == 2:
            total = sum(sizes)
            if total and sizes[1] < whole and total - whole >= total // 2:
                self.tables.setSizes([total - whole, whole])

    def _fill_most_confused(self, evaluation: Evaluation | None) -> None:
        """fastai's "most confused": the off-diagonal cells, largest first, as links."""
        if evaluation is None:
            self.confused_label.clear()
            return
        pairs = most_confused(evaluation)[:MOST_CONFUSED_LIMIT]
        if not pairs:
            self.confused_label.setText("<b>Most confused</b><br>No class was taken for another.")
            return
        lines = [
            f"<a href='{t},{p}'>{evaluation.classes[t]} taken for {evaluation.classes[p]}</a>: {n}"
            for t, p, n in pairs
        ]
        self.confused_label.setText("<b>Most confused</b><br>" + "<br>".join(lines))

    def _fill_gallery(self, evaluation: Evaluation | None) -> None:
        self.gallery.clear()
        self._gallery_items.clear()
        if evaluation is None:
            return
        mistakes = evaluation.misclassified[:GALLERY_LIMIT]
        wrong = sum(
            n for t, row in enumerate(evaluation.confusion) for p, n in enumerate(row) if t != p
        )
        if mistakes:
            text = f"<b>Biggest mistakes</b> (highest loss first): {len(evaluation.misclassified)}"
        elif wrong:
            text = "<b>Biggest mistakes</b>: this model was saved without its evaluated images"
        else:
            text = "<b>Biggest mistakes</b>: none — every evaluated image was right"
        self.gallery_label.setText(text)
        placeholder = QPixmap(THUMB_SIDE, THUMB_SIDE)
        placeholder.fill(QColor(128, 128, 128, 40))
        ids = [p.image_id for p in mistakes if p.image_id is not None]
        records = {}
        if ids:
            try:
                records = {r.id: r for r in self.context.library.images(ids=ids)}
            except Exception as exc:
                log.warning("cannot read the misclassified images: %s", exc)
        for p in mistakes:
            true, predicted = evaluation.classes[p.label], evaluation.classes[p.predicted]
            confidence = p.probabilities[p.predicted] if p.probabilities else 0.0
            item = QListWidgetItem(
                QIcon(placeholder), f"{true} → {predicted}\n{100 * confidence:.0f}% sure"
            )
            item.setData(Qt.ItemDataRole.UserRole, p.image_id)
            item.setToolTip(
                f"{p.path}\ntrue: {true}; predicted: {predicted} ({100 * confidence:.1f}%);"
                f" loss {p.loss:.3f}"
            )
            self.gallery.addItem(item)
            record = records.get(p.image_id) if p.image_id is not None else None
            if record is not None:
                self._gallery_items[record.id] = (item, record)
                pixmap = self._thumbnail_loader().pixmap(record)
                if pixmap is not None:
                    item.setIcon(_square_icon(pixmap))

    def _thumbnail_loader(self) -> ThumbnailLoader:
        if self._thumbnails is None:
            from cnndesk.gui.thumbnails import ThumbnailLoader

            self._thumbnails = ThumbnailLoader(side=THUMB_SIDE, parent=self)
            self._thumbnails.loaded.connect(self._on_thumbnails_loaded)
        return self._thumbnails

    # -------------------------------------------------------------------------- requests

    def show_cell(self, true: int, predicted: int) -> ImageQuery | None:
        """Ask the browser for one confusion-matrix cell's images; returns the query sent."""
        evaluation = self.evaluation
        if evaluation is None:
            return None
        ids = cell_image_ids(evaluation, Cell(true, predicted))
        if not ids:
            self.context.status_message.emit("No images of this cell are in the library.")
            return None
        true_name, predicted_name = evaluation.classes[true], evaluation.classes[predicted]
        query = ImageQuery(
            image_ids=ids, title=f"True {true_name}, predicted {predicted_name} ({len(ids)})"
        )
        self.context.show_images(query)
        return query

    # ------------------------------------------------------------------------------ slots

    @Slot(QModelIndex)
    def _on_confusion_view_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.show_cell(index.row(), index.column())

    @Slot(str)
    def _on_confused_label_link_activated(self, link: str) -> None:
        true, predicted = (int(v) for v in link.split(","))
        self.show_cell(true, predicted)

    @Slot()
    def _on_mistakes_button_clicked(self) -> None:
        if self.evaluation is None:
            return
        ids = tuple(p.image_id for p in self.evaluation.misclassified if p.image_id is not None)
        if ids:
            self.context.show_images(ImageQuery(image_ids=ids, title=f"Mistakes ({len(ids)})"))

    @Slot(QListWidgetItem)
    def _on_gallery_item_activated(self, item: QListWidgetItem) -> None:
        image_id = item.data(Qt.ItemDataRole.UserRole)
        if image_id is not None:
            true_and_predicted = item.text().split("\n", 1)[0]
            self.context.show_images(
                ImageQuery(image_ids=(int(image_id),), title=true_and_predicted)
            )

    @Slot(int)
    def _on_thumbnails_loaded(self, image_id: int) -> None:
        entry = self._gallery_items.get(image_id)
        if entry is None or self._thumbnails is None:
            return
        item, record = entry
        pixmap = self._thumbnails.pixmap(record)
        if pixmap is not None:
            item.setIcon(_square_icon(pixmap))

    @Slot(str)
    def _on_context_model_changed(self, folder: str) -> None:
        self.load_model(folder)

    @Slot()
    def _on_context_library_opened(self) -> None:
        if self._thumbnails is not None:
            self._thumbnails.clear()
        self.load_model(self.context.current_model or self._latest_model())

    @Slot(list)
    def _on_context_labels_changed(self, ids: list) -> None:
        if self.evaluation is None:
            return
        evaluated = {p.image_id for p in self.evaluation.predictions}
        if evaluated.intersection(ids):
            self.stale_label.setText(
                "You relabeled images of this evaluation: train again to see the effect."
            )
            self.stale_label.show()
