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
probabilities and loss), or from the library's stored predictions for that model, both read by
:func:`cnndesk.model_folder.read_evaluation`.

The pane owns only its view and composes its parts: the matrix (:mod:`cnndesk.gui.confusion_matrix`),
the per-class column with the reliability diagram (:mod:`cnndesk.gui.class_metrics`) and the
mistakes (:mod:`cnndesk.gui.mistakes_gallery`); what it says is worked out without Qt in
:mod:`cnndesk.gui.evaluation_text`.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from cnndesk.domain import Calibration, CnndeskError, Evaluation, ImageQuery
from cnndesk.gui.class_metrics import ClassMetricsBox
from cnndesk.gui.confusion_matrix import ConfusionMatrix
from cnndesk.gui.evaluation_text import Cell, cell_image_ids, coverage_text, headline
from cnndesk.gui.heatmap import GalleryHeatMaps
from cnndesk.gui.mistakes_gallery import MistakesGallery
from cnndesk.model_folder import read_evaluation

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext

log = logging.getLogger(__name__)

__all__ = ["EvaluationPane", "read_evaluation"]
"""``read_evaluation`` lives in :mod:`cnndesk.model_folder`; older callers import it from here."""

SIDE_BY_SIDE_LIMIT = 5
"""Up to this many classes, the per-class table sits beside the confusion matrix."""

NO_MODEL_TEXT = (
    "<h3>No evaluation yet</h3><p>Train a model in the Training pane. Its accuracy on images it"
    " did not learn from, where it confuses classes, and its biggest mistakes appear here.</p>"
)
NO_EVALUATION_TEXT = (
    "<h3>No evaluation for {name}</h3><p>This model was saved without one (an older cnndesk, or"
    " training stopped before the end). Train again to see where the model is wrong.</p>"
)
DAMAGED_TEXT = "<h3>The evaluation of {name} cannot be trusted</h3><p>{problem}</p>"
"""A damaged or edited ``evaluation.json`` (or ``model.json``): what is wrong, not its numbers."""


class EvaluationPane(QWidget):
    """Accuracy, per-class metrics, a clickable confusion matrix and the biggest mistakes."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("evaluation_pane")
        self.context = context
        self.evaluation: Evaluation | None = None
        self.model_dir: Path | None = None

        self.confusion_matrix = ConfusionMatrix()
        self.confusion_matrix.cell_clicked.connect(self._on_confusion_matrix_cell_clicked)
        self.confusion_model = self.confusion_matrix.model
        self.confusion_view = self.confusion_matrix.view
        self.class_metrics = ClassMetricsBox()
        self.class_metrics.cell_requested.connect(self._on_confusion_matrix_cell_clicked)
        self.metrics_table = self.class_metrics.table
        self.confused_label = self.class_metrics.confused_label
        self.reliability = self.class_metrics.reliability
        self.mistakes = MistakesGallery()
        self.mistakes.image_requested.connect(self._on_mistakes_image_requested)
        self.gallery = self.mistakes.list
        self.gallery_label = self.mistakes.label
        # "Why did it say bees?": the predicted class's Grad-CAM over each mistake, when ticked.
        self.why = GalleryHeatMaps(context, self.gallery)
        self.mistakes.layout().insertWidget(1, self.why.toggle)
        self.empty_label = QLabel(NO_MODEL_TEXT)
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_header())
        layout.addWidget(self.stale_label)
        layout.addWidget(self._build_splitters(), 1)
        layout.addWidget(self.empty_label, 1)

        context.model_changed.connect(self._on_context_model_changed)
        context.library_opened.connect(self._on_context_library_opened)
        context.labels_changed.connect(self._on_context_labels_changed)
        self.load_model(context.model_folder())

    def _build_header(self) -> QHBoxLayout:
        """The big accuracy figure, the line under it, warnings and "Show all mistakes"."""
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
        return header

    def _build_splitters(self) -> QSplitter:
        """The matrix beside (or above) the per-class column, over the mistakes."""
        self.tables = tables = QSplitter(Qt.Orientation.Horizontal)
        tables.addWidget(self.confusion_matrix)
        tables.addWidget(self.class_metrics)
        tables.setStretchFactor(0, 3)
        tables.setStretchFactor(1, 2)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.tables)
        self.splitter.addWidget(self.mistakes)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        return self.splitter

    # ------------------------------------------------------------------------------ loading

    def load_model(self, model_dir: str | Path | None) -> None:
        """Show the evaluation of a model folder (``None``: the empty state)."""
        self.model_dir = Path(model_dir) if model_dir else None
        try:
            evaluation = read_evaluation(model_dir, self.context.library) if model_dir else None
        except CnndeskError as exc:  # damaged or edited: say what is wrong, show no numbers
            log.warning("%s", exc)
            self.set_evaluation(None, problem=str(exc))
            return
        self.set_evaluation(evaluation)

    def set_evaluation(self, evaluation: Evaluation | None, *, problem: str = "") -> None:
        """Show ``evaluation``; with none, the empty state, or ``problem`` (why it is refused)."""
        self.evaluation = evaluation
        self.stale_label.hide()
        has = evaluation is not None and bool(evaluation.classes)
        self.splitter.setVisible(has)
        self.empty_label.setVisible(not has)
        name = html.escape(self.model_dir.name) if self.model_dir else ""
        self.empty_label.setText(
            NO_MODEL_TEXT
            if self.model_dir is None
            else DAMAGED_TEXT.format(name=name, problem=html.escape(problem))
            if problem
            else NO_EVALUATION_TEXT.format(name=name)
        )
        self.mistakes_button.setVisible(has)
        shown = evaluation if has else None
        self.confusion_matrix.set_evaluation(shown)
        # Many classes need the matrix's full width: the per-class numbers go underneath it.
        many = shown is not None and len(shown.classes) > SIDE_BY_SIDE_LIMIT
        self.tables.setOrientation(Qt.Orientation.Vertical if many else Qt.Orientation.Horizontal)
        self.class_metrics.set_side_by_side(many)
        if many:
            height = max(self.splitter.height(), 600)
            self.splitter.setSizes([height * 3 // 4, height // 4])
            self.tables.setSizes([height // 2, height // 4])
        self.class_metrics.set_evaluation(shown)
        self._fit_metrics_table()
        self.mistakes.set_evaluation(shown, self.context.library)
        mistakes = shown.misclassified[: self.gallery.count()] if shown is not None else ()
        self.why.set_items(
            self.model_dir,
            [
                (self.gallery.item(i), p.path, shown.classes[p.predicted])
                for i, p in enumerate(mistakes)
            ],
        )
        calibration = shown.calibration if shown is not None else None
        self.reliability.set_calibration(calibration, coverage=self._coverage_text(calibration))
        if shown is None:
            self.accuracy_label.setText("")
            self.title_label.setText("")
            self.warning_label.hide()
            return
        figure, title = headline(shown, self.model_dir.name if self.model_dir else "the model")
        self.accuracy_label.setText(figure)
        self.title_label.setText(title)
        self.warning_label.setText(f"⚠ {shown.warning}" if shown.warning else "")
        self.warning_label.setVisible(bool(shown.warning))
        self.mistakes_button.setEnabled(bool(shown.misclassified))

    def _coverage_text(self, calibration: Calibration | None = None) -> str:
        return coverage_text(self.model_dir, shown=calibration)

    def _fit_metrics_table(self) -> None:
        """Where the window has room, the splitter gives the table every column whole; where it
        has not, the table scrolls (a minimum width here made the window 1171 px wide)."""
        whole = self.class_metrics.whole_width()
        sizes = self.tables.sizes()
        if self.tables.orientation() == Qt.Orientation.Horizontal and len(sizes) == 2:
            total = sum(sizes)
            if total and sizes[1] < whole and total - whole >= total // 2:
                self.tables.setSizes([total - whole, whole])

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

    @Slot(int, int)
    def _on_confusion_matrix_cell_clicked(self, true: int, predicted: int) -> None:
        self.show_cell(true, predicted)

    @Slot()
    def _on_mistakes_button_clicked(self) -> None:
        if self.evaluation is None:
            return
        ids = tuple(p.image_id for p in self.evaluation.misclassified if p.image_id is not None)
        if ids:
            self.context.show_images(ImageQuery(image_ids=ids, title=f"Mistakes ({len(ids)})"))

    @Slot(int, str)
    def _on_mistakes_image_requested(self, image_id: int, true_and_predicted: str) -> None:
        self.context.show_images(ImageQuery(image_ids=(image_id,), title=true_and_predicted))

    @Slot(str)
    def _on_context_model_changed(self, folder: str) -> None:
        self.load_model(folder)

    @Slot()
    def _on_context_library_opened(self) -> None:
        self.mistakes.clear_thumbnails()
        self.load_model(self.context.model_folder())

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
