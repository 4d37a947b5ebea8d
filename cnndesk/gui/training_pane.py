"""The training pane: one big **Train** button, live curves, progress, Stop, and the run history.

Pressing Train runs :func:`cnndesk.jobs.train_job` on the worker (``gui/worker.py``) with defaults
that suit the machine: quick mode (frozen backbone, cached features, seconds to a minute) on a
small pretrained backbone. Which backbones have their weights on this computer, and which device
trains, is found out in the background the first time the pane is shown (importing torch takes
seconds; the window must not wait for it). When the default backbone's weights are not here, the
pane says so and offers the two ways out: choose a weights file, or train from scratch.

Advanced settings (backbone from the curated list or any timm name, weights file, mode, epochs,
image size, augmentation, learning rate, device) are folded away under a toggle. A finished run
(or a stopped one, which keeps its best epoch) becomes the app's current model through
``AppContext.set_current_model``, which emits ``model_changed``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnndesk import heldout
from cnndesk.domain import (
    AUGMENT_PRESETS,
    BatchProgress,
    CnndeskError,
    EpochEnd,
    ImageQuery,
    ImageView,
    LibraryStats,
    Progress,
    RunRecord,
    TrainConfig,
    TrainMode,
    TrainPhase,
    TrainResult,
    TrainStarted,
)
from cnndesk.gui.curves import TrainingCurves
from cnndesk.gui.evaluation_pane import latest_model_folder
from cnndesk.gui.progress_style import readable_progress_bar
from cnndesk.model_folder import read_model_info

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.worker import Worker

log = logging.getLogger(__name__)

DEFAULT_BACKBONE = "tf_efficientnet_lite0"
"""Mirrors ``cnndesk.ml.backbones.DEFAULT_BACKBONE`` (which imports torch, so not imported here)."""
SCRATCH_BACKBONE = "simple-cnn"
FEW_IMAGES_PER_CLASS = 10
"""Below this many labeled images a class still trains, but the pane suggests labeling more."""

PHASE_WORDS = {
    TrainPhase.PREPARING: "Preparing images",
    TrainPhase.EMBEDDING: "Computing features",
    TrainPhase.TRAINING: "Training",
    TrainPhase.EVALUATING: "Evaluating",
}


@dataclass(frozen=True)
class BackboneOption:
    name: str
    description: str
    weights: str | None
    """A weights file on this computer, or ``None`` (``simple-cnn`` needs none)."""


@dataclass(frozen=True)
class TrainingOptions:
    """What the background probe found: the device and which backbones can start pretrained."""

    device: str
    backbones: tuple[BackboneOption, ...]
    default_backbone: str


def probe_training_options() -> Generator[Progress, None, TrainingOptions]:
    """Find the training device and the curated backbones' local weights (imports torch).

    A generator like every job, so it runs on the worker; it has no progress worth showing.
    """
    if False:  # pragma: no cover - makes this a generator without a progress event
        yield Progress(0, 0)
    from cnndesk.ml import backbones, weights
    from cnndesk.ml.device import pick_device

    device = pick_device().description
    options = []
    for name, description in backbones.CURATED_BACKBONES:
        found = None if name == backbones.SIMPLE_CNN else weights.cached_weights(name)
        options.append(BackboneOption(name, description, str(found) if found else None))
    return TrainingOptions(device, tuple(options), backbones.DEFAULT_BACKBONE)


def weights_missing_text(backbone: str) -> str:
    """What to do when a backbone's pretrained weights are not here, in the pane's words."""
    return (
        f"The pretrained weights for {backbone} are not on this computer. Press “Choose weights"
        " file…” to use a weights file you have, or “Train from scratch” to train a small"
        " network without them."
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def run_evaluation_text(run: RunRecord) -> str:
    """One definition for every run: ``96.2 % [93.1–98.0] n=157 test+val`` (or ``—``)."""
    summary = (run.metrics or {}).get("evaluation")
    if isinstance(summary, dict) and isinstance(summary.get("images"), int):
        n = summary["images"]
        correct = summary.get("correct")
        if not isinstance(correct, int):
            correct = round(float(summary.get("accuracy") or 0.0) * n)
        return heldout.short(correct, n, str(summary.get("on", "")))
    accuracy, split = run_accuracy(run)
    if accuracy is None:
        return "—"
    return format_percent(accuracy) + (f" ({split}, n unknown)" if split else " (n unknown)")


def run_accuracy(run: RunRecord) -> tuple[float | None, str]:
    """The accuracy a run is best known by, and on which images (test before validation)."""
    metrics = run.metrics or {}
    summary = metrics.get("evaluation")
    if isinstance(summary, dict) and isinstance(summary.get("accuracy"), (int, float)):
        return float(summary["accuracy"]), str(summary.get("on") or "")
    for key, split in (("test_accuracy", "test"), ("evaluation_accuracy", ""), ("val_accuracy", "val")):  # fmt: skip
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            return float(value), split or str(metrics.get("evaluation_split") or "")
    return None, ""


STATUS_WORDS = {
    "done": "done",
    "cancelled": "stopped (best epoch kept)",
    "failed": "failed",
    "running": "training…",
    "interrupted": "interrupted (its process ended)",
}


def run_mode(run: RunRecord) -> str:
    """The mode a run really trained in (``simple-cnn`` always trains every layer)."""
    mode = (run.metrics or {}).get("mode") or (run.config or {}).get("mode") or ""
    if (run.config or {}).get("backbone") == SCRATCH_BACKBONE:
        return TrainMode.FULL.value
    return str(mode)


class TrainingPane(QWidget):
    """Train a model on the library's labels and watch it learn."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training_pane")
        self.context = context
        self.worker: Worker | None = None
        self.options: TrainingOptions | None = None
        self._probe_worker: Worker | None = None
        self._ready = False
        self._live_model: str | None = None
        """The model of the run whose curves were drawn live (kept when it becomes current)."""
        self._last_error_details = ""
        self._last_message = ""
        self._suggest_worker: Worker | None = None
        self._unlabeled = 0
        self._weights_error = False
        """The red message shown is about missing weights (choosing a file clears it)."""

        # --- the big button and what it will do
        self.train_button = QPushButton("Train")
        font = QFont(self.train_button.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.train_button.setFont(font)
        self.train_button.setMinimumSize(160, 48)
        self.train_button.setToolTip("Train a model on the labeled images")
        self.train_button.clicked.connect(self._on_train_button_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setMinimumHeight(48)
        self.stop_button.setToolTip("Stop training; the best model so far is kept")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.device_label = QLabel("Device: checking…")
        self.device_label.setObjectName("device_label")
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.RichText)
        self.message_label.linkActivated.connect(self._on_message_label_link_activated)
        top_text = QVBoxLayout()
        top_text.addWidget(self.summary_label)
        top_text.addWidget(self.device_label)
        top = QHBoxLayout()
        top.addWidget(self.train_button)
        top.addWidget(self.stop_button)
        top.addLayout(top_text, 1)

        # --- "no weights here" banner with the two ways out
        self.weights_banner = QFrame()
        self.weights_banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.weights_banner_label = QLabel()
        self.weights_banner_label.setWordWrap(True)
        self.choose_weights_button = QPushButton("Choose weights file…")
        self.choose_weights_button.clicked.connect(self._on_choose_weights_button_clicked)
        self.scratch_button = QPushButton("Train from scratch")
        self.scratch_button.clicked.connect(self._on_scratch_button_clicked)
        banner = QHBoxLayout(self.weights_banner)
        banner.addWidget(self.weights_banner_label, 1)
        banner.addWidget(self.choose_weights_button)
        banner.addWidget(self.scratch_button)
        self.weights_banner.hide()

        # --- advanced settings, folded away
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced settings")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.toggled.connect(self._on_advanced_toggle_toggled)
        self.advanced_box = QWidget()
        self._build_advanced(self.advanced_box)
        self.advanced_box.hide()

        # --- progress
        self.phase_label = QLabel("")
        self.progress_bar = readable_progress_bar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.phase_label)

        # --- curves and history
        self.curves = TrainingCurves()
        self.history_table = QTableWidget(0, 6)
        self.history_table.setHorizontalHeaderLabels(
            ["Run", "When", "Backbone", "Mode", "Accuracy [95 % CI] n", "Status"]
        )
        self.history_table.verticalHeader().hide()
        self.history_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.history_table.horizontalHeader().setStretchLastSection(True)
        self.history_table.setToolTip(
            "Double-click a run to make its model the current one (marked ●).\n"
            "Accuracy: on held-out images by one rule for every run (see the Evaluate pane),\n"
            "with its 95 % interval, the number of images n and which images."
        )
        self.history_table.cellDoubleClicked.connect(self._on_history_table_cell_double_clicked)
        history = QWidget()
        history_layout = QVBoxLayout(history)
        history_layout.setContentsMargins(0, 0, 0, 0)
        history_layout.addWidget(QLabel("<b>Runs</b>"))
        history_layout.addWidget(self.history_table)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.curves_label = QLabel()
        self.curves_label.setObjectName("curves_label")
        curves_box = QWidget()
        curves_layout = QVBoxLayout(curves_box)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.curves_label)
        curves_layout.addWidget(self.curves, 1)
        self.splitter.addWidget(curves_box)
        self.splitter.addWidget(history)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        self.suggest_button = QPushButton()
        self.suggest_button.setToolTip(
            "The current model guesses a label for every unlabeled image; the library then shows"
            " them least confident first, and Enter accepts a guess"
        )
        self.suggest_button.clicked.connect(self._on_suggest_button_clicked)
        self.suggest_button.hide()
        message_row = QHBoxLayout()
        message_row.addWidget(self.message_label, 1)
        message_row.addWidget(self.suggest_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(message_row)
        layout.addWidget(self.weights_banner)
        layout.addWidget(self.advanced_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.advanced_box)
        layout.addLayout(progress_row)
        self.progress_bar.hide()
        layout.addWidget(self.splitter, 1)

        context.library_opened.connect(self._on_context_library_opened)
        context.stats_loaded.connect(self._on_context_stats_loaded)  # re-read after labels
        context.classes_changed.connect(self._on_context_classes_changed)
        context.model_changed.connect(self._on_context_model_changed)
        context.device_detected.connect(self._on_context_device_detected)
        self.refresh()
        self._prefill_from_last_run()
        self.show_model_history(context.current_model or latest_model_folder(context.library))

    def _build_advanced(self, box: QWidget) -> None:
        self.backbone_combo = QComboBox()
        self.backbone_combo.setEditable(True)
        self.backbone_combo.setToolTip("A backbone from the list, or any timm model name")
        self.backbone_combo.addItem(DEFAULT_BACKBONE)
        self.backbone_combo.addItem(SCRATCH_BACKBONE)
        self.backbone_combo.setCurrentText(DEFAULT_BACKBONE)
        self.backbone_combo.currentTextChanged.connect(self._on_backbone_combo_text_changed)
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("from the cache (or download)")
        self.weights_edit.setClearButtonEnabled(True)
        self.weights_edit.textChanged.connect(self._on_weights_edit_text_changed)
        weights_browse = QPushButton("Browse…")
        weights_browse.clicked.connect(self._on_choose_weights_button_clicked)
        weights_row = QHBoxLayout()
        weights_row.setContentsMargins(0, 0, 0, 0)
        weights_row.addWidget(self.weights_edit, 1)
        weights_row.addWidget(weights_browse)
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Quick: train the last layer (seconds)", TrainMode.QUICK.value)
        self.mode_combo.addItem("Full: fine-tune every layer (minutes)", TrainMode.FULL.value)
        self.mode_combo.currentIndexChanged.connect(self._on_mode_combo_index_changed)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(0, 1000)
        self.epochs_spin.setSpecialValueText("automatic")
        self.image_size_spin = QSpinBox()
        self.image_size_spin.setRange(0, 1024)
        self.image_size_spin.setSingleStep(32)
        self.image_size_spin.setSpecialValueText("the backbone's own")
        self.augment_combo = QComboBox()
        self.augment_combo.addItems(list(AUGMENT_PRESETS))
        self.augment_combo.setCurrentText("light")
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.0, 1.0)
        self.lr_spin.setSingleStep(0.0005)
        self.lr_spin.setSpecialValueText("automatic")
        self.device_combo = QComboBox()
        self.device_combo.addItem("automatic", None)
        for device in ("cuda", "mps", "cpu"):
            self.device_combo.addItem(device, device)
        form = QFormLayout(box)
        form.setContentsMargins(16, 0, 0, 0)
        form.addRow("Backbone", self.backbone_combo)
        form.addRow("Weights file", weights_row)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Image size", self.image_size_spin)
        form.addRow("Augmentation", self.augment_combo)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Device", self.device_combo)

    # ----------------------------------------------------------------------------- state

    @property
    def training(self) -> bool:
        return self.worker is not None

    def config(self) -> TrainConfig:
        """The run the Train button starts, from the (possibly folded) settings."""
        backbone = self.backbone_combo.currentText().strip() or DEFAULT_BACKBONE
        weights = self.weights_edit.text().strip() or None
        return TrainConfig(
            backbone=backbone,
            mode=TrainMode(self.mode_combo.currentData()),
            pretrained=backbone != SCRATCH_BACKBONE,
            weights=weights,
            epochs=self.epochs_spin.value() or None,
            image_size=self.image_size_spin.value() or None,
            augment=self.augment_combo.currentText(),
            lr=self.lr_spin.value() or None,
            device=self.device_combo.currentData(),
        )

    def refresh(self) -> None:
        """Re-read what the library can train and its past runs."""
        self._refresh_readiness()
        self._refresh_history()

    def _refresh_readiness(self, stats: LibraryStats | None = None) -> None:
        try:
            stats = stats or self.context.library.stats()
            counts = {name: n for name, n in stats.classes.items() if n > 0}
        except Exception as exc:  # a library that cannot be read: say so, do not crash the pane
            log.warning("cannot read the library's classes: %s", exc)
            counts = {}
        total = sum(counts.values())
        missing_weights = self._weights_missing()
        self._ready = len(counts) >= 2 and not missing_weights
        self._update_suggest_button(stats.unlabeled if counts else 0)
        if self.training:
            return
        self.train_button.setEnabled(self._ready)
        if not counts:
            self.summary_label.setText(
                "Nothing to train on yet. Import images, add at least two classes, and label"
                " a few images of each with the class hotkeys (1, 2, …)."
            )
        elif len(counts) == 1:
            (name,) = counts
            self.summary_label.setText(
                f"Only one class has labels ({name}: {counts[name]}). A classifier needs at"
                " least two: label some images of another class, then train."
            )
        elif missing_weights:
            self.summary_label.setText(
                f"Not ready: the pretrained weights for {self._backbone()} are not on this"
                " computer. Choose a weights file, or train from scratch (the buttons below)."
            )
        else:
            few = [f"{name} ({n})" for name, n in counts.items() if n < FEW_IMAGES_PER_CLASS]
            text = (
                f"Ready: {total} labeled images in {len(counts)} classes."
                f" Train {self._plan_words()}."
            )
            if few:
                text += (
                    f" Few images in {', '.join(few)}:"
                    f" {FEW_IMAGES_PER_CLASS}+ per class train better."
                )
            self.summary_label.setText(text)

    def _update_suggest_button(self, unlabeled: int) -> None:
        model = self.context.current_model or latest_model_folder(self.context.library)
        self._unlabeled = unlabeled
        self.suggest_button.setText(f"Suggest labels for {unlabeled:,} unlabeled images")
        self.suggest_button.setVisible(model is not None and unlabeled > 0)
        self.suggest_button.setEnabled(not self.training and self._suggest_worker is None)

    def suggest_labels(self) -> Worker | None:
        """Let the current model suggest a label for every unlabeled image (``suggest_job``)."""
        model = self.context.current_model or latest_model_folder(self.context.library)
        if model is None or self._suggest_worker is not None:
            return None
        library = self.context.library

        def job() -> Generator[Any, None, tuple[Any, list[int]]]:
            from cnndesk.jobs import suggest_job

            ids = [r.id for r in library.unlabeled_images()]
            result = yield from suggest_job(library, model)
            return result, ids

        self._suggest_worker = self.context.run_job(job, title="Suggesting labels")
        self._suggest_worker.finished.connect(self._on_suggest_worker_finished)
        self._suggest_worker.failed.connect(self._on_suggest_worker_failed)
        self._suggest_worker.cancelled.connect(self._on_suggest_worker_cancelled)
        self.suggest_button.setEnabled(False)
        self.suggest_button.setText("Suggesting labels…")
        return self._suggest_worker

    def _plan_words(self) -> str:
        """What pressing Train will do, in words (the summary line)."""
        backbone = self.backbone_combo.currentText().strip() or DEFAULT_BACKBONE
        if backbone == SCRATCH_BACKBONE:
            return "trains a small CNN from scratch (every layer, takes longer)"
        if self.mode_combo.currentData() == TrainMode.QUICK.value:
            return f"makes a quick model: {backbone}'s last layer learns your classes (seconds)"
        return f"fine-tunes every layer of {backbone} (minutes)"

    def _refresh_history(self) -> None:
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
        table = self.history_table
        table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            config = run.config or {}
            is_current = current is not None and run.model_path == current
            values = [
                f"#{run.id}" + (" ●" if is_current else ""),
                (run.created or "")[:16].replace("T", " "),
                str(config.get("backbone", "")),
                run_mode(run),
                run_evaluation_text(run),
                STATUS_WORDS.get(run.status, run.status),
            ]
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, run.model_path)
                if run.model_path is None:
                    item.setForeground(self.palette().placeholderText())
                if current is not None and run.model_path == current:
                    bold = QFont(item.font())
                    bold.setBold(True)
                    item.setFont(bold)
                    item.setToolTip("The current model")
                table.setItem(row, column, item)

    def _prefill_from_last_run(self) -> None:
        """Start from the last finished run's backbone, mode and weights file (if still there):
        the choice the user made last time, remembered by the library rather than the app."""
        try:
            runs = self.context.library.runs()
        except Exception as exc:
            log.warning("cannot read the library's runs: %s", exc)
            return
        last = next((r for r in reversed(runs) if r.model_path and r.config), None)
        if last is None:
            return
        config = last.config
        backbone = str(config.get("backbone") or "")
        weights = str(config.get("weights") or "")
        if backbone:
            self.backbone_combo.setCurrentText(backbone)
        index = self.mode_combo.findData(config.get("mode"))
        if index >= 0:
            self.mode_combo.setCurrentIndex(index)
        if weights and Path(weights).is_file():
            self.weights_edit.setText(weights)

    def show_model_history(self, folder: str | Path | None) -> None:
        """Draw the curves a saved model was trained with (from its ``model.json``)."""
        self.curves.reset()
        if folder is None:
            self.curves_label.setText("Curves appear here while a model trains.")
            return
        try:
            info = read_model_info(folder).raw
        except CnndeskError as exc:
            log.info("cannot read %s: %s", folder, exc)
            self.curves_label.setText("")
            return
        metrics = info.get("metrics") or {}
        best = int(metrics.get("best_epoch") or 0)
        history = metrics.get("history") or []
        for entry in history:
            try:
                event = EpochEnd(
                    epoch=int(entry["epoch"]),
                    epochs=len(history),
                    train_loss=float(entry["train_loss"]),
                    train_accuracy=float(entry["train_accuracy"]),
                    val_loss=entry.get("val_loss"),
                    val_accuracy=entry.get("val_accuracy"),
                    lr=float(entry.get("lr") or 0.0),
                    seconds=float(entry.get("seconds") or 0.0),
                    best_epoch=best,
                    improved=False,
                    stage=str(entry.get("stage", "train")),
                )
            except (KeyError, TypeError, ValueError):
                continue
            self.curves.add_epoch(event)
        training = info.get("training") or {}
        what = ", ".join(str(v) for v in (info.get("backbone"), training.get("mode")) if v)
        self.curves_label.setText(
            f"How <b>{Path(folder).name}</b> learned" + (f" ({what})" if what else "")
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.options is None and self._probe_worker is None:
            self.probe()

    def probe(self) -> Worker:
        """Find the device and the backbones' local weights in the background."""
        self._probe_worker = self.context.run_job(
            probe_training_options, title="Finding the training device"
        )
        self._probe_worker.finished.connect(self._on_probe_worker_finished)
        self._probe_worker.failed.connect(self._on_probe_worker_failed)
        return self._probe_worker

    def _apply_options(self, options: TrainingOptions) -> None:
        self.options = options
        self.device_label.setText(f"Device: {options.device}")
        typed = self.backbone_combo.currentText()
        self.backbone_combo.blockSignals(True)
        self.backbone_combo.clear()
        for option in options.backbones:
            here = (
                "no weights needed"
                if option.name == SCRATCH_BACKBONE
                else ("weights on this computer" if option.weights else "weights not here")
            )
            self.backbone_combo.addItem(option.name, option.name)
            index = self.backbone_combo.count() - 1
            self.backbone_combo.setItemData(
                index, f"{option.description} ({here})", Qt.ItemDataRole.ToolTipRole
            )
        self.backbone_combo.setCurrentText(typed or options.default_backbone)
        self.backbone_combo.blockSignals(False)
        self._update_weights_banner()
        self._refresh_readiness()

    def _backbone(self) -> str:
        return self.backbone_combo.currentText().strip() or DEFAULT_BACKBONE

    def _weights_missing(self) -> bool:
        """The chosen backbone starts pretrained, its weights are not on this computer (the
        background probe says so) and no weights file is chosen: Train cannot start."""
        known = {o.name: o for o in self.options.backbones} if self.options else {}
        option = known.get(self._backbone())
        return (
            option is not None
            and option.name != SCRATCH_BACKBONE
            and option.weights is None
            and not self.weights_edit.text().strip()
        )

    def _update_weights_banner(self) -> None:
        """Offer the ways out when the chosen backbone's weights are not on this computer."""
        backbone = self._backbone()
        missing = self._weights_missing()
        if missing:
            self.weights_banner_label.setText(
                f"The pretrained weights for {backbone} are not on this computer. Choose a"
                " weights file (.safetensors or a PyTorch state dict), or train a small network"
                " from scratch (needs more images and learns more slowly)."
            )
        self.weights_banner.setVisible(missing)

    # ---------------------------------------------------------------------------- actions

    def start_training(self, config: TrainConfig | None = None) -> Worker | None:
        """Start a run (``config`` or the pane's settings); ``None`` when it cannot start."""
        if self.training:
            return self.worker
        self._refresh_readiness()
        if not self._ready:
            self._show_message(self.summary_label.text(), error=True)
            return None
        config = config or self.config()
        library = self.context.library

        def job() -> Generator[Any, None, TrainResult]:
            from cnndesk.jobs import train_job

            return (yield from train_job(library, config))

        self.progress_bar.show()
        self.curves.reset()
        self.curves_label.setText(f"Live: {config.backbone}, {config.mode.value}")
        self._show_message("")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.phase_label.setText("")
        self.worker = self.context.run_job(job, title="Training")
        self.worker.event.connect(self._on_worker_event)
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.failed.connect(self._on_worker_failed)
        self.worker.cancelled.connect(self._on_worker_cancelled)
        self._set_running(True)
        return self.worker

    def stop_training(self) -> None:
        """Stop the run at its next batch; it keeps its best epoch."""
        if self.worker is not None:
            self.worker.cancel()
            self.stop_button.setEnabled(False)
            self.stop_button.setText("Stopping…")
            self.progress_bar.setFormat("Stopping: keeping the best model so far…")

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running and self._ready)
        self.stop_button.setEnabled(running)
        self.stop_button.setText("Stop")
        self.advanced_box.setEnabled(not running)
        self.suggest_button.setEnabled(not running and self._suggest_worker is None)
        self.weights_banner.setEnabled(not running)

    def _show_message(
        self, text: str, *, error: bool = False, details: str = "", evaluate_link: bool = False
    ) -> None:
        self._last_message = text
        self._last_error_details = details
        self._weights_error = False
        if not text:
            self.message_label.clear()
            self.message_label.hide()
            return
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if error:
            escaped = f"<span style='color:#c0392b'>{escaped}</span>"
        if details:
            escaped += " <a href='details'>Details…</a>"
        if evaluate_link:
            escaped += " <a href='evaluation'>See where it is wrong →</a>"
        self.message_label.setText(escaped)
        self.message_label.show()

    def _finish(self, *, model_path: str | None, text: str) -> None:
        self.worker = None
        self._live_model = model_path
        self._set_running(False)
        self._refresh_readiness()
        if model_path:
            self.context.set_current_model(model_path)
        self._refresh_history()
        self._show_message(text, evaluate_link=bool(model_path))
        self.context.status_message.emit(text)

    # ------------------------------------------------------------------------------ slots

    @Slot()
    def _on_train_button_clicked(self) -> None:
        self.start_training()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        self.stop_training()

    @Slot(bool)
    def _on_advanced_toggle_toggled(self, checked: bool) -> None:
        self.advanced_box.setVisible(checked)
        self.advanced_toggle.setArrowType(
            Qt.ArrowType.DownArrow if checked else Qt.ArrowType.RightArrow
        )

    @Slot(str)
    def _on_backbone_combo_text_changed(self, text: str) -> None:
        if text.strip() == SCRATCH_BACKBONE:  # nothing pretrained to freeze: it trains fully
            self.mode_combo.setCurrentIndex(self.mode_combo.findData(TrainMode.FULL.value))
        if self._weights_error and not self.training:
            self._weights_error = False
            self._show_message("")
        self._update_weights_banner()
        self._refresh_readiness()

    @Slot()
    def _on_suggest_button_clicked(self) -> None:
        self.suggest_labels()

    @Slot(object)
    def _on_suggest_worker_finished(self, answer: object) -> None:
        self._suggest_worker = None
        result, ids = answer  # type: ignore[misc]
        suggested = getattr(result, "suggested", 0)
        text = (
            f"The model suggested labels for {suggested:,} images. The library shows them least"
            " confident first: Enter accepts a suggestion, a class key gives another label."
        )
        self._show_message(text)
        self.context.status_message.emit(text.split(".")[0] + ".")
        self.context.labels_changed.emit(list(ids))
        self.context.show_images(
            ImageQuery(
                view=ImageView.UNLABELED,
                order="least_confident",
                title="Unlabeled, least confident first",
            )
        )
        self._update_suggest_button(self._unlabeled)

    @Slot(str, str)
    def _on_suggest_worker_failed(self, message: str, details: str) -> None:
        self._suggest_worker = None
        self._show_message(f"Suggesting labels failed: {message}", error=True, details=details)
        self._update_suggest_button(self._unlabeled)

    @Slot()
    def _on_suggest_worker_cancelled(self) -> None:
        self._suggest_worker = None
        self._update_suggest_button(self._unlabeled)

    @Slot(int)
    def _on_mode_combo_index_changed(self, _index: int) -> None:
        self._refresh_readiness()

    @Slot(str)
    def _on_weights_edit_text_changed(self, _text: str) -> None:
        self._update_weights_banner()
        if self._weights_error and not self.training:
            self._weights_error = False  # that error was about the weights just replaced
            self._show_message("")
        self._refresh_readiness()

    @Slot()
    def _on_choose_weights_button_clicked(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self,
            "Choose pretrained weights",
            str(Path.home()),
            "Weights (*.safetensors *.pth *.pt *.bin);;All files (*)",
        )
        if file:
            self.weights_edit.setText(file)

    @Slot()
    def _on_scratch_button_clicked(self) -> None:
        self.backbone_combo.setCurrentText(SCRATCH_BACKBONE)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(TrainMode.FULL.value))

    @Slot(str)
    def _on_message_label_link_activated(self, link: str) -> None:
        if link == "evaluation":
            self.context.pane_requested.emit("evaluation")
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Training failed")
        box.setText(self._last_message)
        box.setDetailedText(self._last_error_details)
        box.open()

    @Slot(object)
    def _on_probe_worker_finished(self, options: object) -> None:
        if isinstance(options, TrainingOptions):
            self._apply_options(options)
            self.context.device_detected.emit(options.device)

    @Slot(str, str)
    def _on_probe_worker_failed(self, message: str, _details: str) -> None:
        self.device_label.setText(f"Device: unknown ({message})")

    @Slot(str)
    def _on_context_device_detected(self, device: str) -> None:
        self.device_label.setText(f"Device: {device}")

    @Slot(object)
    def _on_worker_event(self, event: object) -> None:
        if isinstance(event, TrainStarted):
            self.device_label.setText(f"Device: {event.device}")
            self.phase_label.setText(f"{event.backbone} · {event.mode}")
            self.curves_label.setText(
                f"Live: {event.backbone}, {event.mode}, {len(event.classes)} classes"
            )
            self._refresh_history()  # the run is recorded as running
            self.progress_bar.setFormat(
                f"{event.train_images} training and {event.val_images} validation images"
            )
        elif isinstance(event, BatchProgress):
            self._show_batch(event)
            self.curves.add_batch(event)
        elif isinstance(event, EpochEnd):
            self.curves.add_epoch(event)
        elif isinstance(event, Progress):
            if event.fraction is not None:
                self.progress_bar.setValue(round(1000 * event.fraction))
            self.progress_bar.setFormat(event.message or "Working…")

    def _show_batch(self, event: BatchProgress) -> None:
        fraction = event.fraction
        self.progress_bar.setValue(round(1000 * fraction) if fraction is not None else 0)
        parts = [PHASE_WORDS.get(event.phase, str(event.phase.value).capitalize())]
        if event.phase is TrainPhase.TRAINING and event.epochs:
            parts.append(f"epoch {event.epoch}/{event.epochs}")
        if event.images_per_second:
            parts.append(f"{event.images_per_second:.0f} images/s")
        if event.eta_seconds is not None:
            parts.append(f"{format_duration(event.eta_seconds)} left")
        self.progress_bar.setFormat(" · ".join(parts))
        if event.device:
            self.device_label.setText(f"Device: {event.device}")

    @Slot(object)
    def _on_worker_finished(self, result: object) -> None:
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat("Done")
        if not isinstance(result, TrainResult):
            self._finish(model_path=None, text="Training ended without a model.")
            return
        evaluation = result.evaluation
        if evaluation is not None:
            measured = evaluation.headline
            if evaluation.warning:
                measured += f" ⚠ {evaluation.warning}"
        else:
            measured = f"{format_percent(result.val_accuracy)} on the validation images"
        text = (
            f"Trained in {format_duration(result.seconds)}: {measured}"
            f" (best epoch {result.best_epoch} of {result.epochs})."
        )
        if result.cancelled:
            text = f"Stopped; kept the best epoch ({result.best_epoch}): {measured}."
        self._finish(model_path=result.model_path, text=text)

    @Slot(str, str)
    def _on_worker_failed(self, message: str, details: str) -> None:
        self.worker = None
        self._set_running(False)
        self.progress_bar.setFormat("Failed")
        self._refresh_readiness()
        self._refresh_history()
        weights_error = "WeightsUnavailableError" in details
        if weights_error:  # the core's message names command-line options: say it in GUI words
            message = weights_missing_text(self._backbone())
        self._show_message(f"Training failed: {message}", error=True, details=details)
        self._weights_error = weights_error
        self.context.status_message.emit(f"Training failed: {message}")

    @Slot()
    def _on_worker_cancelled(self) -> None:
        result = self.worker.result if self.worker is not None else None
        self.progress_bar.setFormat("Stopped")
        if isinstance(result, TrainResult) and result.model_path:
            self._on_worker_finished(result)
            return
        # The job saved its best epoch in its ``finally`` and recorded the run: find it there.
        runs = self.context.library.runs()
        last = runs[-1] if runs else None
        if last is not None and last.model_path and Path(last.model_path).is_dir():
            text = f"Stopped; kept the best model so far: {run_evaluation_text(last)}."
            self._finish(model_path=last.model_path, text=text)
        else:
            self._finish(
                model_path=None, text="Stopped before the first epoch ended: no model was kept."
            )

    @Slot(int, int)
    def _on_history_table_cell_double_clicked(self, row: int, column: int) -> None:
        item = self.history_table.item(row, column)
        model_path = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if model_path and Path(model_path).is_dir():
            self.context.set_current_model(model_path)
            self.context.status_message.emit(f"Current model: {Path(model_path).name}")

    @Slot()
    def _on_context_library_opened(self) -> None:
        if self.worker is None:
            self.show_model_history(latest_model_folder(self.context.library))
            self.progress_bar.hide()
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
            self._show_message("")
        self.refresh()

    @Slot(object)
    def _on_context_stats_loaded(self, stats: object) -> None:
        self._refresh_readiness(stats if isinstance(stats, LibraryStats) else None)

    @Slot()
    def _on_context_classes_changed(self) -> None:
        self._refresh_readiness()

    @Slot(str)
    def _on_context_model_changed(self, folder: str) -> None:
        self._refresh_history()
        if self.worker is None and folder != self._live_model:
            self.show_model_history(folder)  # the run just watched keeps its live curves
