"""The training pane's options: the advanced settings form and the "no weights here" banner.

:class:`AdvancedSettings` holds the backbone (from the curated list or any timm name), weights
file, mode, epochs, image size, augmentation, learning rate and device, and turns them into the
:class:`~cnndesk.domain.TrainConfig` the Train button starts. :class:`WeightsBanner` offers the two
ways out when the chosen backbone's pretrained weights are not on this computer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from cnndesk.domain import AUGMENT_PRESETS, RunRecord, TrainConfig, TrainMode
from cnndesk.gui.readiness import DEFAULT_BACKBONE, TrainingOptions
from cnndesk.model_folder import SCRATCH_BACKBONE

WEIGHTS_FILTER = "Weights (*.safetensors *.pth *.pt *.bin);;All files (*)"
DEVICES = ("cuda", "mps", "cpu")


def choose_weights_file(parent: QWidget) -> str:
    """Ask for a pretrained weights file; empty when the dialog is cancelled."""
    file, _ = QFileDialog.getOpenFileName(
        parent, "Choose pretrained weights", str(Path.home()), WEIGHTS_FILTER
    )
    return file


def advanced_toggle() -> QToolButton:
    """The "Advanced settings" fold-out arrow (unchecked: folded away)."""
    toggle = QToolButton()
    toggle.setText("Advanced settings")
    toggle.setCheckable(True)
    toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toggle.setArrowType(Qt.ArrowType.RightArrow)
    toggle.setAutoRaise(True)
    return toggle


class AdvancedSettings(QWidget):
    """Everything a run can be told, with automatic defaults; :meth:`config` reads it.

    Signals: ``backbone_changed(str)`` (typed or chosen), ``weights_changed(str)``,
    ``mode_changed(int)`` (the mode list's new index).
    """

    backbone_changed = Signal(str)
    weights_changed = Signal(str)
    mode_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.weights_edit.textChanged.connect(self.weights_changed)
        weights_browse = QPushButton("Browse…")
        weights_browse.clicked.connect(self._on_weights_browse_clicked)
        weights_row = QHBoxLayout()
        weights_row.setContentsMargins(0, 0, 0, 0)
        weights_row.addWidget(self.weights_edit, 1)
        weights_row.addWidget(weights_browse)
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Quick: train the last layer (seconds)", TrainMode.QUICK.value)
        self.mode_combo.addItem("Full: fine-tune every layer (minutes)", TrainMode.FULL.value)
        self.mode_combo.currentIndexChanged.connect(self.mode_changed)
        self._build_numbers()
        form = QFormLayout(self)
        form.setContentsMargins(16, 0, 0, 0)
        form.addRow("Backbone", self.backbone_combo)
        form.addRow("Weights file", weights_row)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Image size", self.image_size_spin)
        form.addRow("Augmentation", self.augment_combo)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Device", self.device_combo)

    def _build_numbers(self) -> None:
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
        for device in DEVICES:
            self.device_combo.addItem(device, device)

    # ------------------------------------------------------------------------------ state

    def backbone(self) -> str:
        return self.backbone_combo.currentText().strip() or DEFAULT_BACKBONE

    def weights_file(self) -> str:
        return self.weights_edit.text().strip()

    def mode(self) -> str | None:
        return self.mode_combo.currentData()

    def config(self) -> TrainConfig:
        """The run the Train button starts, from the (possibly folded) settings."""
        backbone = self.backbone()
        return TrainConfig(
            backbone=backbone,
            mode=TrainMode(self.mode_combo.currentData()),
            pretrained=backbone != SCRATCH_BACKBONE,
            weights=self.weights_file() or None,
            epochs=self.epochs_spin.value() or None,
            image_size=self.image_size_spin.value() or None,
            augment=self.augment_combo.currentText(),
            lr=self.lr_spin.value() or None,
            device=self.device_combo.currentData(),
        )

    def use_scratch(self) -> None:
        """Train the small CNN from scratch (every layer: nothing pretrained to freeze)."""
        self.backbone_combo.setCurrentText(SCRATCH_BACKBONE)
        self._set_mode(TrainMode.FULL)

    def _set_mode(self, mode: TrainMode) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode.value))

    def apply_options(self, options: TrainingOptions) -> None:
        """List the probed backbones, each saying whether its weights are here."""
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

    def prefill(self, runs: Sequence[RunRecord]) -> None:
        """Start from the last finished run's backbone, mode and weights file (if still there):
        the choice the user made last time, remembered by the library rather than the app."""
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

    # ------------------------------------------------------------------------------ slots

    @Slot(str)
    def _on_backbone_combo_text_changed(self, text: str) -> None:
        if text.strip() == SCRATCH_BACKBONE:  # nothing pretrained to freeze: it trains fully
            self._set_mode(TrainMode.FULL)
        self.backbone_changed.emit(text)

    @Slot()
    def _on_weights_browse_clicked(self) -> None:
        file = choose_weights_file(self)
        if file:
            self.weights_edit.setText(file)


class WeightsBanner(QFrame):
    """ "The pretrained weights are not here": choose a weights file, or train from scratch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.choose_button = QPushButton("Choose weights file…")
        self.scratch_button = QPushButton("Train from scratch")
        banner = QHBoxLayout(self)
        banner.addWidget(self.label, 1)
        banner.addWidget(self.choose_button)
        banner.addWidget(self.scratch_button)
        self.hide()
