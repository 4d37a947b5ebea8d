"""The reliability diagram: how often the model is right at each confidence, before and after
temperature scaling, with the expected calibration error (ECE) of both.

A perfectly calibrated model lies on the diagonal: of the images it is 80 % sure of, 80 % are
right. The curves are created once and updated with ``setData`` (pyqtgraph's advice).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnndesk.domain import Calibration, ReliabilityBin
from cnndesk.gui.evaluation_text import confidence_text

BEFORE_COLOUR = "#999999"
AFTER_COLOUR = "#1f77b4"


def _points(bins: tuple[ReliabilityBin, ...]) -> tuple[list[float], list[float]]:
    used = [b for b in bins if b.count > 0]
    return [b.confidence for b in used], [b.accuracy for b in used]


class ReliabilityPlot(QWidget):
    """A small reliability diagram with its ECE line; empty until a calibration is set."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.plot = pg.PlotWidget(background=None)
        self.plot.setMinimumHeight(110)
        self.plot.setMaximumHeight(170)
        item = self.plot.getPlotItem()
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)
        item.setMouseEnabled(False, False)
        item.hideButtons()
        item.setLabel("bottom", "confidence")
        item.setLabel("left", "right")
        item.addLegend(offset=(4, 4), labelTextSize="8pt")
        self.diagonal = item.plot(
            [0, 1], [0, 1], pen=pg.mkPen("#2ca02c", width=1, style=Qt.PenStyle.DashLine)
        )
        self.before_curve = item.plot(
            [], [], name="before", pen=pg.mkPen(BEFORE_COLOUR, width=1.5), symbol="o",
            symbolSize=5, symbolBrush=BEFORE_COLOUR,
        )  # fmt: skip
        self.after_curve = item.plot(
            [], [], name="calibrated", pen=pg.mkPen(AFTER_COLOUR, width=2), symbol="o",
            symbolSize=6, symbolBrush=AFTER_COLOUR,
        )  # fmt: skip
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.plot)
        self.setToolTip(
            "Reliability diagram: of the images the model is X sure of, how many it gets right.\n"
            "On the dashed diagonal its confidence can be taken at its word. ECE: the average\n"
            "gap, weighted by how many images fall at each confidence."
        )
        self.set_calibration(None)

    def set_calibration(self, calibration: Calibration | None, *, coverage: str = "") -> None:
        """Show ``calibration`` (``None``: hide the diagram); ``coverage`` is an extra line."""
        self.setVisible(calibration is not None)
        if calibration is None:
            self.before_curve.setData([], [])
            self.after_curve.setData([], [])
            self.summary_label.clear()
            return
        self.before_curve.setData(*_points(calibration.bins_before))
        self.after_curve.setData(*_points(calibration.bins_after))
        text = confidence_text(calibration)
        if coverage:
            text += f"<br>{coverage}"
        self.summary_label.setText(text)
