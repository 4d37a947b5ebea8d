"""The training pane: one big **Train** button, live curves, progress, Stop, and the run history.

Pressing Train runs :func:`cnndesk.jobs.train_job` on the worker (``gui/worker.py``) with defaults
that suit the machine: quick mode (frozen backbone, cached features, seconds to a minute) on a
small pretrained backbone. Which backbones have their weights on this computer, and which device
trains, is found out in the background the first time the pane is shown (importing torch takes
seconds; the window must not wait for it). When the default backbone's weights are not here, the
pane says so and offers the two ways out: choose a weights file, or train from scratch.

The pane owns only its view and composes its parts: the advanced settings and the weights banner
(:mod:`cnndesk.gui.training_settings`, folded away under a toggle), the run history
(:mod:`cnndesk.gui.run_history`), the label-suggestions button (:mod:`cnndesk.gui.label_suggestions`)
and the curves (:mod:`cnndesk.gui.curves`); the rules and words of readiness are Qt-free, in
:mod:`cnndesk.gui.readiness`. A finished run (or a stopped one, which keeps its best epoch) becomes
the app's current model through ``AppContext.set_current_model``, which emits ``model_changed``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import (
    BatchProgress,
    CnndeskError,
    EpochEnd,
    LibraryStats,
    Progress,
    TrainConfig,
    TrainResult,
    TrainStarted,
)
from cnndesk.gui.curves import TrainingCurves
from cnndesk.gui.label_suggestions import SuggestLabelsButton
from cnndesk.gui.progress_style import readable_progress_bar
from cnndesk.gui.readiness import (
    DEFAULT_BACKBONE,
    BackboneOption,
    TrainingOptions,
    batch_text,
    plan_words,
    probe_training_options,
    readiness,
    result_text,
    weights_missing,
    weights_missing_text,
)
from cnndesk.gui.run_history import RunHistory
from cnndesk.gui.training_settings import (
    AdvancedSettings,
    WeightsBanner,
    advanced_toggle,
    choose_weights_file,
)
from cnndesk.model_folder import (
    epoch_history,
    latest_model_folder,
    read_model_info,
    run_evaluation_text,
)

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.worker import Worker

log = logging.getLogger(__name__)

WEIGHTS_CHOICE = (
    "Choose a weights file (.safetensors or a PyTorch state dict), or train a small network"
    " from scratch (needs more images and learns more slowly)."
)
"""The weights box's words; the readiness line above says which weights are missing."""

__all__ = ["DEFAULT_BACKBONE", "BackboneOption", "TrainingOptions", "TrainingPane"]
"""The probe's results are imported from here by older callers; they live in ``readiness``."""


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
        self._weights_error = False
        """The red message shown is about missing weights (choosing a file clears it)."""

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_top())
        layout.addLayout(self._build_message_row())
        layout.addWidget(self._build_weights_banner())
        self._build_advanced()
        layout.addWidget(self.advanced_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.advanced_box)
        layout.addLayout(self._build_progress())
        self.progress_bar.hide()
        layout.addWidget(self._build_curves_and_history(), 1)

        context.library_opened.connect(self._on_context_library_opened)
        context.stats_loaded.connect(self._on_context_stats_loaded)  # re-read after labels
        context.classes_changed.connect(self._on_context_classes_changed)
        context.model_changed.connect(self._on_context_model_changed)
        context.device_detected.connect(self._on_context_device_detected)
        self.refresh()
        self._prefill_from_last_run()
        self.show_model_history(context.model_folder())

    # ---------------------------------------------------------------------------- building

    def _build_top(self) -> QHBoxLayout:
        """The big Train button, Stop, and what Train will do on which device."""
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
        self.device_label.setWordWrap(True)  # a long CPU description must not widen the window
        top_text = QVBoxLayout()
        top_text.addWidget(self.summary_label)
        top_text.addWidget(self.device_label)
        top = QHBoxLayout()
        top.addWidget(self.train_button)
        top.addWidget(self.stop_button)
        top.addLayout(top_text, 1)
        return top

    def _build_message_row(self) -> QHBoxLayout:
        """The last outcome (with Details… / the Evaluate link) beside the suggestions button."""
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.RichText)
        self.message_label.linkActivated.connect(self._on_message_label_link_activated)
        self.suggest_button = SuggestLabelsButton(self.context)
        self.suggest_button.message.connect(self._on_suggest_button_message)
        message_row = QHBoxLayout()
        message_row.addWidget(self.message_label, 1)
        message_row.addWidget(self.suggest_button, 0, Qt.AlignmentFlag.AlignTop)
        return message_row

    def _build_weights_banner(self) -> WeightsBanner:
        self.weights_banner = WeightsBanner()
        self.weights_banner_label = self.weights_banner.label
        self.choose_weights_button = self.weights_banner.choose_button
        self.scratch_button = self.weights_banner.scratch_button
        self.choose_weights_button.clicked.connect(self._on_choose_weights_button_clicked)
        self.scratch_button.clicked.connect(self._on_scratch_button_clicked)
        return self.weights_banner

    def _build_advanced(self) -> None:
        """The folded-away settings; their fields stay reachable as the pane's attributes."""
        self.advanced_toggle = advanced_toggle()
        self.advanced_toggle.toggled.connect(self._on_advanced_toggle_toggled)
        self.advanced_box = settings = AdvancedSettings()
        settings.hide()
        settings.backbone_changed.connect(self._on_advanced_box_backbone_changed)
        settings.weights_changed.connect(self._on_advanced_box_weights_changed)
        settings.mode_changed.connect(self._on_advanced_box_mode_changed)
        self.backbone_combo = settings.backbone_combo
        self.weights_edit = settings.weights_edit
        self.mode_combo = settings.mode_combo
        self.epochs_spin = settings.epochs_spin
        self.image_size_spin = settings.image_size_spin
        self.augment_combo = settings.augment_combo
        self.lr_spin = settings.lr_spin
        self.device_combo = settings.device_combo

    def _build_progress(self) -> QHBoxLayout:
        self.phase_label = QLabel("")
        self.progress_bar = readable_progress_bar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("")
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.phase_label)
        return progress_row

    def _build_curves_and_history(self) -> QSplitter:
        self.curves = TrainingCurves()
        self.run_history = RunHistory(self.context)
        self.history_table = self.run_history.table
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.curves_label = QLabel()
        self.curves_label.setObjectName("curves_label")
        curves_box = QWidget()
        curves_layout = QVBoxLayout(curves_box)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.curves_label)
        curves_layout.addWidget(self.curves, 1)
        self.splitter.addWidget(curves_box)
        self.splitter.addWidget(self.run_history)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        return self.splitter

    # ----------------------------------------------------------------------------- state

    @property
    def training(self) -> bool:
        return self.worker is not None

    def config(self) -> TrainConfig:
        """The run the Train button starts, from the (possibly folded) settings."""
        return self.advanced_box.config()

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
        settings = self.advanced_box
        state = readiness(
            counts,
            missing_weights=self._weights_missing(),
            backbone=self._backbone(),
            plan=plan_words(settings.backbone(), settings.mode()),
        )
        self._ready = state.ready
        self.suggest_button.set_unlabeled(stats.unlabeled if counts else 0)
        if self.training:
            return
        self.train_button.setEnabled(self._ready)
        text = state.text
        if len(counts) >= 2 and self._weights_missing():  # said once: the box says what to do
            text = f"Not ready: the pretrained weights for {self._backbone()} are not on this computer."
        self.summary_label.setText(text)

    def suggest_labels(self) -> Worker | None:
        """Let the current model suggest a label for every unlabeled image (``suggest_job``)."""
        return self.suggest_button.suggest()

    def _refresh_history(self) -> None:
        self.run_history.refresh()

    def _prefill_from_last_run(self) -> None:
        """Start from the last finished run's settings (see ``AdvancedSettings.prefill``)."""
        try:
            runs = self.context.library.runs()
        except Exception as exc:
            log.warning("cannot read the library's runs: %s", exc)
            return
        self.advanced_box.prefill(runs)

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
        for event in epoch_history(info.get("metrics") or {}):
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
        self.advanced_box.apply_options(options)
        self._update_weights_banner()
        self._refresh_readiness()

    def _backbone(self) -> str:
        return self.advanced_box.backbone()

    def _weights_missing(self) -> bool:
        """Train cannot start: see :func:`cnndesk.gui.readiness.weights_missing`."""
        return weights_missing(self.options, self._backbone(), self.advanced_box.weights_file())

    def _update_weights_banner(self) -> None:
        """Offer the ways out when the chosen backbone's weights are not on this computer."""
        missing = self._weights_missing()
        if missing:
            self.weights_banner_label.setText(WEIGHTS_CHOICE)
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
        self.suggest_button.set_blocked(running)
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
    def _on_advanced_box_backbone_changed(self, _text: str) -> None:
        if self._weights_error and not self.training:
            self._weights_error = False
            self._show_message("")
        self._update_weights_banner()
        self._refresh_readiness()

    @Slot(int)
    def _on_advanced_box_mode_changed(self, _index: int) -> None:
        self._refresh_readiness()

    @Slot(str, bool, str)
    def _on_suggest_button_message(self, text: str, error: bool, details: str) -> None:
        self._show_message(text, error=error, details=details)

    @Slot(str)
    def _on_advanced_box_weights_changed(self, _text: str) -> None:
        self._update_weights_banner()
        if self._weights_error and not self.training:
            self._weights_error = False  # that error was about the weights just replaced
            self._show_message("")
        self._refresh_readiness()

    @Slot()
    def _on_choose_weights_button_clicked(self) -> None:
        file = choose_weights_file(self)
        if file:
            self.weights_edit.setText(file)

    @Slot()
    def _on_scratch_button_clicked(self) -> None:
        self.advanced_box.use_scratch()

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
        self.progress_bar.setFormat(batch_text(event))
        if event.device:
            self.device_label.setText(f"Device: {event.device}")

    @Slot(object)
    def _on_worker_finished(self, result: object) -> None:
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat("Done")
        if not isinstance(result, TrainResult):
            self._finish(model_path=None, text="Training ended without a model.")
            return
        self._finish(model_path=result.model_path, text=result_text(result))

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
