"""Live training curves: loss and accuracy per epoch (train and validation) and a smoothed
batch loss, drawn with pyqtgraph.

Each curve is created once and updated with ``setData`` (clip-to-view and downsampling keep long
runs cheap); tests read the numbers back with ``curve.getData()``. The x axis counts epochs; batch
points sit at fractional epochs, so the batch loss runs between the epoch points.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from cnndesk.domain import BatchProgress, EpochEnd, TrainPhase

TRAIN_COLOUR = "#1f77b4"
VAL_COLOUR = "#ff7f0e"
BATCH_COLOUR = "#9ecae1"


def _curve(
    plot: pg.PlotItem, *, name: str, colour: str, width: float = 2.0, symbol: str | None = "o"
) -> pg.PlotDataItem:
    item = plot.plot(
        [],
        [],
        name=name,
        pen=pg.mkPen(colour, width=width),
        symbol=symbol,
        symbolSize=5,
        symbolBrush=colour,
        symbolPen=None,
    )
    item.setClipToView(True)
    item.setDownsampling(auto=True, method="peak")
    return item


class TrainingCurves(QWidget):
    """Two plots side by side: loss (with the smoothed batch loss) and accuracy, per epoch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(None)
        self.plots.setMinimumHeight(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots)

        self.loss_plot: pg.PlotItem = self.plots.addPlot(title="Loss")
        self.accuracy_plot: pg.PlotItem = self.plots.addPlot(title="Accuracy")
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "epoch")
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
        self.accuracy_plot.setYRange(0.0, 1.0, padding=0.02)
        # Loss falls and accuracy rises: legends in the corners the curves leave free, small
        # and see-through, so on a narrow window they never hide a curve.
        legend = {
            "labelTextSize": "8pt",
            "colCount": 3,
            "horSpacing": 6,
            "verSpacing": -6,
            "brush": pg.mkBrush(255, 255, 255, 150),
            "pen": pg.mkPen(128, 128, 128, 90),
        }
        # The loss legend is one column: with the batch entry (added at the first batch) three
        # in a row were wider than the loss plot at 1024 px and lost their start at the axis.
        self.loss_legend = self.loss_plot.addLegend(offset=(-4, 4), **{**legend, "colCount": 1})
        self.accuracy_legend = self.accuracy_plot.addLegend(offset=(-4, -4), **legend)

        self.batch_loss_curve = _curve(
            self.loss_plot, name="batch (smoothed)", colour=BATCH_COLOUR, width=1.0, symbol=None
        )
        self.train_loss_curve = _curve(self.loss_plot, name="train", colour=TRAIN_COLOUR)
        self.val_loss_curve = _curve(self.loss_plot, name="validation", colour=VAL_COLOUR)
        self.train_accuracy_curve = _curve(self.accuracy_plot, name="train", colour=TRAIN_COLOUR)
        self.val_accuracy_curve = _curve(self.accuracy_plot, name="validation", colour=VAL_COLOUR)
        self.best_epoch_lines = [
            pg.InfiniteLine(
                angle=90, movable=False, pen=pg.mkPen("#2ca02c", style=Qt.PenStyle.DashLine)
            )
            for _ in (self.loss_plot, self.accuracy_plot)
        ]
        for plot, line in zip((self.loss_plot, self.accuracy_plot), self.best_epoch_lines):
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
        self.reset()

    def reset(self) -> None:
        """Forget the previous run's points."""
        self._epochs: list[float] = []
        self._train_loss: list[float] = []
        self._train_accuracy: list[float] = []
        self._val_epochs: list[float] = []
        self._val_loss: list[float] = []
        self._val_accuracy: list[float] = []
        self._batch_x: list[float] = []
        self._batch_loss: list[float] = []
        self._epoch_offset = 0
        """Epochs of earlier stages (full mode's head warm-up), so stages continue the x axis."""
        self._stage = ""
        self._last_epoch = 0
        """The last epoch number seen (each stage counts from 1 again)."""
        self._best_x: float | None = None
        """Where the kept epoch is: the last one that improved (it may be an earlier stage's)."""
        for curve in self.curves():
            curve.setData([], [])
        # The batch curve's legend entry appears with its first point (saved runs have none).
        self.loss_legend.removeItem(self.batch_loss_curve)
        for line in self.best_epoch_lines:
            line.setVisible(False)

    def curves(self) -> list[pg.PlotDataItem]:
        return [
            self.batch_loss_curve,
            self.train_loss_curve,
            self.val_loss_curve,
            self.train_accuracy_curve,
            self.val_accuracy_curve,
        ]

    # ------------------------------------------------------------------------------- updates

    def _x(self, epoch: int, *, stage: str | None = None) -> float:
        """Where epoch ``epoch`` of the current stage ends on the x axis.

        A new stage (full mode's fine-tuning after the head warm-up) numbers its epochs from 1
        again: seen as a new ``stage`` name on an epoch, or as the epoch number going down on a
        batch (batches carry no stage), it continues after the epochs already drawn.
        """
        new_stage = (stage is not None and self._stage and stage != self._stage) or (
            epoch < self._last_epoch
        )
        if new_stage and self._epochs:
            self._epoch_offset = int(self._epochs[-1])
            self._last_epoch = 0
        if stage is not None:
            self._stage = stage
        self._last_epoch = max(self._last_epoch, epoch)
        return float(self._epoch_offset + epoch)

    def add_batch(self, event: BatchProgress) -> None:
        """Plot one batch's smoothed loss at its fractional epoch."""
        if event.phase is not TrainPhase.TRAINING or not event.epoch or event.batches <= 0:
            return
        loss = event.smoothed_loss if event.smoothed_loss is not None else event.loss
        if loss is None:
            return
        x = self._x(event.epoch) - 1 + min(event.batch / event.batches, 1.0)
        if self._batch_x and x <= self._batch_x[-1]:
            return  # a repeated or out-of-order point would draw a loop
        if not self._batch_x:
            self.loss_legend.addItem(self.batch_loss_curve, "batch (smoothed)")
        self._batch_x.append(x)
        self._batch_loss.append(float(loss))
        self.batch_loss_curve.setData(self._batch_x, self._batch_loss)

    def add_epoch(self, event: EpochEnd) -> None:
        """Plot one epoch's train and validation loss and accuracy."""
        x = self._x(event.epoch, stage=event.stage)
        self._epochs.append(x)
        self._train_loss.append(event.train_loss)
        self._train_accuracy.append(event.train_accuracy)
        self.train_loss_curve.setData(self._epochs, self._train_loss)
        self.train_accuracy_curve.setData(self._epochs, self._train_accuracy)
        if event.val_loss is not None:
            self._val_epochs.append(x)
            self._val_loss.append(event.val_loss)
            self._val_accuracy.append(event.val_accuracy or 0.0)
            self.val_loss_curve.setData(self._val_epochs, self._val_loss)
            self.val_accuracy_curve.setData(self._val_epochs, self._val_accuracy)
        if event.improved:
            self._best_x = x
        if event.best_epoch:
            # A full run's fine-tuning that never beats its warm-up head keeps the head's epoch:
            # the line stays there, not at the same number of the current stage.
            best_x = (
                self._best_x if self._best_x is not None else x - event.epoch + event.best_epoch
            )
            for line in self.best_epoch_lines:
                line.setPos(best_x)
                line.setVisible(True)

    @property
    def epochs_plotted(self) -> int:
        return len(self._epochs)
