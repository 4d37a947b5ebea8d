"""The prediction pane: drop or open an image and see how likely each class is, as sorted bars.

Until the user drops or opens an image of their own, the pane answers for the library's current
image (the one the browser and the viewer show), so switching to it while labeling shows what the
model thinks of the image at hand.

Inference runs on the worker (``gui/worker.py``). The model is loaded once, on the worker thread,
and kept while the app's current model is the same folder (:class:`PredictorCache`); the main window
asks the pane to :meth:`~PredictionPane.preload` it in the background soon after start, and the pane
does so again whenever another model becomes current (after training), so the first prediction does
not wait for torch and the model to load. Every request
carries an id; a result that answers an older request than the newest is dropped, so dropping
five images in a row shows the fifth one's answer, never a late answer for the third (DESIGN §2).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QImageReader,
    QPixmap,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import CnndeskError, ImageError, Prediction, Progress
from cnndesk.export_formats import EXPORT_FORMATS, format_for_suffix
from cnndesk.gui.heatmap import HeatMapStrip
from cnndesk.gui.progress_style import readable_progress_bar
from cnndesk.model_folder import read_model_info

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.worker import Worker

log = logging.getLogger(__name__)

LOADING_MESSAGE = "Loading the model…"
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"


def model_classes(folder: Path) -> list[str]:
    """The class names of a model folder, from its ``model.json`` (no torch needed)."""
    try:
        return list(read_model_info(folder).classes)
    except CnndeskError as exc:
        log.info("cannot read %s: %s", folder, exc)
        return []


class PredictorCache:
    """One loaded model, kept between requests; only ever used on worker threads.

    The lock serialises loading and inference, so two quick requests never load the model twice.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._predictor: Any = None
        self.loads = 0
        """How many times a model was loaded (tests check it stays 1 for one model)."""

    def predict(self, model_dir: Path, image: str) -> Prediction:
        with self._lock:
            self._load_locked(model_dir)
            return self._predictor.predict(image)

    def load(self, model_dir: Path) -> None:
        """Load ``model_dir`` now (a no-op when it is the loaded one)."""
        with self._lock:
            self._load_locked(model_dir)

    def _load_locked(self, model_dir: Path) -> None:
        if self._predictor is None or self._folder != model_dir:
            from cnndesk.ml.predict import Predictor

            self._predictor = None  # free the old model before loading the new one
            self._predictor = Predictor(model_dir)
            self._folder = model_dir
            self.loads += 1

    def loaded(self, model_dir: Path) -> bool:
        return self._predictor is not None and self._folder == model_dir

    def clear(self) -> None:
        """Forget the model (the next request loads it again). Never waits for a running
        request: called from the GUI thread, which must not block on a model load."""
        self._folder = None


@dataclass(frozen=True)
class PredictionAnswer:
    """A prediction tagged with the request it answers."""

    request_id: int
    model_dir: str
    prediction: Prediction


def predict_request(
    cache: PredictorCache, model_dir: Path, *, image: str, request_id: int
) -> Generator[Progress, None, PredictionAnswer]:
    """The job behind one request: load the model if needed, then predict one image."""
    if not cache.loaded(model_dir):
        yield Progress(0, 0, LOADING_MESSAGE)  # no total: the status bar shows a busy bar
    try:
        prediction = cache.predict(model_dir, image)
    except ImageError as exc:
        prediction = Prediction(image, (), error=str(exc))
    return PredictionAnswer(request_id, str(model_dir), prediction)


def preload_request(cache: PredictorCache, model_dir: Path) -> Generator[Progress, None, str]:
    """The job that loads ``model_dir`` ahead of the first request; returns its folder."""
    if not cache.loaded(model_dir):
        yield Progress(0, 0, LOADING_MESSAGE)
        cache.load(model_dir)
    return str(model_dir)


class ProbabilityBars(QWidget):
    """One row per class: name, a bar, the percentage; most likely first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setColumnStretch(1, 1)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(4)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.rows: list[tuple[QLabel, QProgressBar]] = []

    def set_scores(self, scores: list[tuple[str, float]]) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.rows = []
        for row, (name, p) in enumerate(scores):
            label = QLabel(name)
            bar = readable_progress_bar()
            bar.setRange(0, 1000)
            bar.setValue(round(1000 * p))
            bar.setFormat(f"{100 * p:.1f}%")
            bar.setTextVisible(True)
            bar.setMaximumHeight(22)
            if row == 0:
                bold = QFont(label.font())
                bold.setBold(True)
                label.setFont(bold)
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(bar, row, 1)
            self.rows.append((label, bar))

    def scores(self) -> list[tuple[str, float]]:
        """What is shown, as (class, probability) in display order (for tests)."""
        return [(label.text(), bar.value() / 1000) for label, bar in self.rows]


class PredictionPane(QWidget):
    """Drop an image, see every class's probability."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prediction_pane")
        self.setAcceptDrops(True)
        self.context = context
        self.cache = PredictorCache()
        self.image_path: str | None = None
        self.prediction: Prediction | None = None
        self._request_ids = itertools.count(1)
        self._latest_request = 0
        self._source_pixmap: QPixmap | None = None
        self._library_image: str | None = None
        """The image the user last looked at in the library (the browser's current one)."""
        self._following_library = True
        """Until an image is dropped or opened, the pane shows the library's current image."""
        self._preloading: Path | None = None

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.open_button)
        self.export_button = QPushButton("Export model…")
        self.export_button.setToolTip(
            "Save the model as ONNX, TorchScript or OpenVINO IR (checked against PyTorch on your images)"
        )
        self.export_button.clicked.connect(self._on_export_button_clicked)
        top.addWidget(self.export_button)

        self.image_label = QLabel()
        self.image_label.setObjectName("drop_target")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(QSize(200, 160))
        self.image_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.image_label.setStyleSheet(
            "#drop_target { border: 2px dashed palette(mid); border-radius: 8px; }"
        )
        self.image_label.setText("Drop an image here\nor use Open image…")

        body = QHBoxLayout()
        body.addWidget(self.image_label, 3)
        body.addLayout(self._build_answer(), 2)
        self.export_label = QLabel()
        self.export_label.setWordWrap(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.export_label)
        self.export_label.hide()  # until an export starts
        layout.addLayout(body, 1)

        context.model_changed.connect(self._on_context_model_changed)
        context.library_opened.connect(self._on_context_library_opened)
        context.current_image_changed.connect(self._on_context_current_image_changed)
        self._show_model()

    def _build_answer(self) -> QVBoxLayout:
        """The answer column: the top class in large type, the file, and one bar per class."""
        self.answer_label = QLabel()
        big = QFont(self.answer_label.font())
        big.setPointSizeF(big.pointSizeF() * 1.6)
        big.setBold(True)
        self.answer_label.setFont(big)
        self.answer_label.setWordWrap(True)
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.bars = ProbabilityBars()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.bars)
        answer = QVBoxLayout()
        answer.addWidget(self.answer_label)
        answer.addWidget(self.detail_label)
        answer.addWidget(scroll, 1)
        # Where the model found each of its top classes (Grad-CAM, off until ticked).
        self.heatmaps = HeatMapStrip(self.context)
        answer.addWidget(self.heatmaps)
        return answer

    # ------------------------------------------------------------------------------ model

    @property
    def model_dir(self) -> Path | None:
        """The current model, or the newest trained one when none is current yet."""
        return self.context.model_folder()

    def _show_model(self) -> None:
        folder = self.model_dir
        self.export_button.setVisible(folder is not None)
        if folder is None:
            self.model_label.setText(
                "No model yet: train one in the Training pane (or double-click a past run"
                " there), then drop images here to see what it thinks."
            )
        else:
            self.model_label.setText(f"Model: <b>{folder.name}</b>")
            self.model_label.setToolTip(str(folder))
        if self.image_path is None:  # nothing asked yet: say what the model can tell apart
            classes = model_classes(folder) if folder is not None else []
            self.answer_label.setText("")
            self.detail_label.setText(
                f"It knows {len(classes)} classes: {', '.join(classes)}." if classes else ""
            )

    # ----------------------------------------------------------------------------- requests

    def predict(self, image: str | Path) -> int:
        """Show ``image`` and ask the model about it; returns the request id (0: no model)."""
        self.image_path = str(image)
        self._show_image(self.image_path)
        folder = self.model_dir
        self.heatmaps.explain(folder, self.image_path)
        if folder is None:
            self._latest_request = 0
            self._show_answer(None, "Train a model first: there is nothing to ask yet.")
            return 0
        request_id = next(self._request_ids)
        self._latest_request = request_id
        cache, path = self.cache, self.image_path
        self.answer_label.setText("Thinking…")
        self.detail_label.setText("")

        def job() -> Generator[Progress, None, PredictionAnswer]:
            return (yield from predict_request(cache, folder, image=path, request_id=request_id))

        worker = self.context.run_job(job, title="Predicting")
        worker.event.connect(self._on_worker_event)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        self._last_worker: Worker = worker
        return request_id

    def preload(self) -> Worker | None:
        """Load the current model in the background (``None``: no model, or already loaded)."""
        folder = self.model_dir
        if folder is None or self.cache.loaded(folder) or self._preloading == folder:
            return None
        cache = self.cache
        self._preloading = folder

        def job() -> Generator[Progress, None, str]:
            return (yield from preload_request(cache, folder))

        worker = self.context.run_job(job, title="Loading the model")
        worker.finished.connect(self._on_preload_worker_finished)
        worker.failed.connect(self._on_preload_worker_failed)
        worker.cancelled.connect(self._on_preload_worker_cancelled)
        return worker

    def _show_image(self, path: str) -> None:
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        size = reader.size()
        limit = 1600
        if size.isValid() and max(size.width(), size.height()) > limit:
            reader.setScaledSize(size.scaled(limit, limit, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            self._source_pixmap = None
            self.image_label.setPixmap(QPixmap())
            self.image_label.setText(f"Cannot show {Path(path).name}\n({reader.errorString()})")
            return
        self._source_pixmap = QPixmap.fromImage(image)
        self._fit_pixmap()

    def _fit_pixmap(self) -> None:
        if self._source_pixmap is None:
            return
        target = self.image_label.size() - QSize(8, 8)
        self.image_label.setPixmap(
            self._source_pixmap.scaled(
                target,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def _show_answer(self, prediction: Prediction | None, message: str = "") -> None:
        self.prediction = prediction
        if prediction is None or prediction.error is not None:
            self.answer_label.setText("")
            self.detail_label.setText(message or (prediction.error if prediction else "") or "")
            self.bars.set_scores([])
            return
        top = prediction.top[0]
        self.answer_label.setText(f"{top.name} — {100 * top.p:.1f}%")
        name = Path(prediction.file).name
        if prediction.file == self._library_image:
            name += " (the library's current image)"
        self.detail_label.setText(name)
        self.bars.set_scores([(s.name, s.p) for s in prediction.top])

    def export_model(self, out: str | Path, *, force: bool = False) -> Worker | None:
        """Export the current model to ``out`` in the format its suffix names and check it.

        The suffix picks the format (:data:`~cnndesk.export_formats.EXPORT_FORMATS`: ``.onnx``,
        ``.pt``, ``.xml`` for OpenVINO IR); any other suffix exports TorchScript.

        ``force`` (the file dialog asked "replace?") lets the export replace a file cnndesk did
        not write; never the model's own files or the open library (:mod:`cnndesk.outputs`).
        Returns ``None`` and says why in the pane when ``out`` may not be written.
        """
        folder = self.model_dir
        if folder is None:
            return None
        out = Path(out)
        fmt = format_for_suffix(out) or "torchscript"
        library = self.context.library
        from cnndesk.domain import OutputError
        from cnndesk.outputs import check_output, library_files

        try:  # the protected files, at once; the job checks the rest (earlier exports, say)
            check_output(
                out,
                force=True,
                protected=[folder, *library_files(getattr(library, "path", None))],
                what="model file",
            )
        except OutputError as exc:
            self.export_label.setText(f"Not exported: {exc}")
            self.export_label.show()
            return None

        def job() -> Generator[Progress, None, Any]:
            from cnndesk.jobs import export_job

            return (yield from export_job(folder, out, format=fmt, library=library, force=force))

        worker = self.context.run_job(job, title="Exporting the model")
        worker.finished.connect(self._on_export_worker_finished)
        worker.failed.connect(self._on_export_worker_failed)
        self.export_button.setEnabled(False)
        self.export_label.setText(f"Exporting to {out.name}…")
        self.export_label.show()
        return worker

    # ------------------------------------------------------------------------------ events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        files = [f for f in files if Path(f).is_file()]
        if files:
            event.acceptProposedAction()
            self._following_library = False
            self.predict(files[0])

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._follow_library()

    def _follow_library(self) -> None:
        """Ask about the library's current image, unless the user brought an image of their own."""
        image = self._library_image
        if (
            self._following_library
            and image is not None
            and image != self.image_path
            and self.isVisible()
            and self.model_dir is not None
        ):
            self.predict(image)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_pixmap()

    # ------------------------------------------------------------------------------ slots

    @Slot()
    def _on_export_button_clicked(self) -> None:
        folder = self.model_dir
        if folder is None:
            return
        out, _ = QFileDialog.getSaveFileName(
            self,
            "Export the model",
            str(Path.home() / f"{folder.name}.onnx"),
            ";;".join(f"{f.description} (*{f.suffix})" for f in EXPORT_FORMATS.values()),
        )
        if out:
            # The dialog asked before choosing an existing file: that answer is the --force.
            self.export_model(out, force=True)

    @Slot(object)
    def _on_export_worker_finished(self, result: object) -> None:
        self.export_button.setEnabled(True)
        file = getattr(result, "file", "")
        checked = getattr(result, "checked_on", "") or (
            f"{getattr(result, 'images_checked', 0)} images"
        )  # "8 generated images" when none of the library's could be read
        diff = getattr(result, "max_abs_diff", 0.0)
        self.export_label.setText(
            f"Exported {Path(file).name} (next to it: how to preprocess images). Checked on"
            f" {checked}: probabilities within {diff:.1e} of PyTorch's."
        )
        self.export_label.setToolTip(str(file))
        self.context.status_message.emit(f"Exported the model to {file}")

    @Slot(str, str)
    def _on_export_worker_failed(self, message: str, _details: str) -> None:
        self.export_button.setEnabled(True)
        self.export_label.setText(f"Export failed: {message}")

    @Slot()
    def _on_open_button_clicked(self) -> None:
        start = str(Path(self.image_path).parent) if self.image_path else str(Path.home())
        file, _ = QFileDialog.getOpenFileName(self, "Open an image", start, IMAGE_FILTER)
        if file:
            self._following_library = False
            self.predict(file)

    @Slot(object)
    def _on_worker_event(self, event: object) -> None:
        if isinstance(event, Progress) and event.message:
            self.answer_label.setText(event.message)

    @Slot(object)
    def _on_worker_finished(self, answer: object) -> None:
        if not isinstance(answer, PredictionAnswer) or answer.request_id != self._latest_request:
            return  # an answer to an older request: the user has moved on
        self._show_answer(answer.prediction)

    @Slot(str, str)
    def _on_worker_failed(self, message: str, _details: str) -> None:
        if self.sender() is getattr(self, "_last_worker", None):
            self._show_answer(None, f"The model could not answer: {message}")

    @Slot(object)
    def _on_context_current_image_changed(self, shown: object) -> None:
        record = getattr(shown, "record", None)
        path = getattr(record, "path", None)
        if isinstance(path, str):
            self._library_image = path
            self._follow_library()

    @Slot(object)
    def _on_preload_worker_finished(self, _folder: object) -> None:
        self._preloading = None

    @Slot(str, str)
    def _on_preload_worker_failed(self, message: str, _details: str) -> None:
        self._preloading = None
        log.warning("preloading the model failed: %s", message)
        self.context.status_message.emit(f"The model cannot be loaded: {message}")

    @Slot()
    def _on_preload_worker_cancelled(self) -> None:
        self._preloading = None

    @Slot(str)
    def _on_context_model_changed(self, _folder: str) -> None:
        self._show_model()
        if self.image_path is not None:
            self.predict(self.image_path)  # what does the new model say?
        else:
            self.preload()  # the next prediction (after training, say) answers at once

    @Slot()
    def _on_context_library_opened(self) -> None:
        self.cache.clear()
        self._latest_request = 0  # an answer still on its way belongs to the old library
        self.image_path = None
        self.prediction = None
        self._library_image = None
        self._following_library = True
        self._source_pixmap = None
        self.image_label.setPixmap(QPixmap())
        self.image_label.setText("Drop an image here\nor use Open image…")
        self.bars.set_scores([])
        self.export_label.clear()
        self.export_label.hide()
        self._show_model()
