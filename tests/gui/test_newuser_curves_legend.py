"""The loss plot's legend fits inside the plot in a 1024×700 window.

Found in a real 1024×700 X window: with the batch entry (added at the first batch) the legend
was wider than the loss plot and its start ("batch (smoothed)") was cut off at the left axis.
"""

from __future__ import annotations

from pathlib import Path

from cnndesk.domain import BatchProgress, EpochEnd
from tests.gui.browser_data import open_window, unlabeled_library
from tests.gui.layout_settle import settle_layout


def test_the_loss_legend_with_its_batch_entry_stays_inside_the_plot(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    window.resize(1024, 700)
    assert window.show_pane("training")
    pane = window.panes["training"]
    curves = pane.curves
    qtbot.waitUntil(lambda: curves.isVisible(), timeout=5000)
    # The probe started by showing the pane changes the lines above the plots when it answers:
    # let it answer first, so the plots are measured in the pane as it stays.
    qtbot.waitUntil(lambda: pane.options is not None, timeout=60000)

    curves.add_batch(
        BatchProgress(done=1, total=10, epoch=1, epochs=3, batch=1, batches=4, loss=0.7)
    )
    curves.add_epoch(
        EpochEnd(
            epoch=1,
            epochs=3,
            train_loss=0.6,
            train_accuracy=0.7,
            val_loss=0.5,
            val_accuracy=0.8,
            lr=1e-3,
            seconds=1.0,
            best_epoch=1,
            improved=True,
        )
    )
    plots = ((curves.loss_plot, curves.loss_legend), (curves.accuracy_plot, curves.accuracy_legend))

    def legend_boxes() -> list[tuple[float, ...]]:
        return [
            (*legend.mapRectToItem(plot.vb, legend.boundingRect()).getRect(), plot.vb.width())
            for plot, legend in plots
        ]

    settle_layout(qtbot, window, also=legend_boxes)  # the plots laid out at the window's size

    for plot, legend in plots:
        names = [label.text for _sample, label in legend.items]
        box = legend.mapRectToItem(plot.vb, legend.boundingRect())
        assert box.left() >= 0 and box.right() <= plot.vb.width(), (names, box, plot.vb.width())
    assert [label.text for _s, label in curves.loss_legend.items] == [
        "train",
        "validation",
        "batch (smoothed)",
    ]
