"""The batch sort pane: sort a folder with the current model, see the summary, undo it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cnndesk.gui.batch_sort_pane import BatchSortPane
from cnndesk.library import Library
from tests.conftest import make_image
from tests.gui.pane_data import open_pane
from tests.model_folders import make_model_folder


@pytest.fixture
def pane(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_pane(qtbot, Library.open(tmp_path / "lib.cnndesk"), BatchSortPane) as pane:
        yield pane


def photos(folder: Path, n: int = 4) -> list[Path]:
    return [make_image(folder / f"photo_{i}.png") for i in range(n)]


def test_without_a_model_sorting_is_not_possible(qtbot, pane, tmp_path: Path) -> None:
    photos(tmp_path / "in")
    pane.set_source(tmp_path / "in")
    assert "No model yet" in pane.model_label.text()
    assert not pane.sort_button.isEnabled()
    assert pane.start_sort() is None


# PySide6 picks QDragEnterEvent's deprecated QPoint overload even for a QPointF.
@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_dropping_a_folder_fills_source_and_a_default_destination(qtbot, pane, tmp_path) -> None:
    source = tmp_path / "holiday"
    photos(source, 1)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(source))])
    args = (QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    enter = QDragEnterEvent(*args)
    QApplication.sendEvent(pane, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(pane, QDropEvent(*args))
    assert pane.source == source
    assert pane.dest == tmp_path / "holiday sorted"


def test_sort_shows_the_summary_and_undo_puts_everything_back(qtbot, pane, tmp_path) -> None:
    # The model is sure (88%) every image is a bee.
    model = make_model_folder(tmp_path / "model", classes=("ants", "bees"), constant=(0.0, 2.0))
    pane.context.set_current_model(model)
    source = tmp_path / "in"
    originals = photos(source)
    pane.set_source(source)
    pane.move_radio.setChecked(True)
    pane.threshold_slider.setValue(50)
    assert pane.sort_button.isEnabled() and not pane.undo_button.isEnabled()
    with qtbot.waitSignal(pane.context.job_ended, timeout=30000):
        pane.sort_button.click()
    dest = tmp_path / "in sorted"
    assert sorted(p.name for p in (dest / "bees").iterdir()) == [p.name for p in originals]
    assert not any(p.exists() for p in originals)  # moved
    assert pane.summary_table.rowCount() == 1
    assert pane.summary_table.item(0, 0).text() == "bees"
    assert pane.summary_table.item(0, 1).text() == "4"
    assert pane.summary_table.cellWidget(0, 2).value() == 1000
    assert "Moved 4 images" in pane.message_label.text()
    assert pane.undo_button.isEnabled() and pane.open_button.isEnabled()
    with qtbot.waitSignal(pane.context.job_ended, timeout=30000):
        pane.undo_button.click()
    assert all(p.exists() for p in originals)
    assert "4 files put back" in pane.message_label.text()
    assert not pane.undo_button.isEnabled()


def test_a_high_threshold_sends_doubtful_images_to_uncertain(qtbot, pane, tmp_path) -> None:
    model = make_model_folder(tmp_path / "model", classes=("ants", "bees"), constant=(0.0, 0.5))
    pane.context.set_current_model(model)  # 62% bees: below a 90% threshold
    photos(tmp_path / "in", 3)
    pane.set_source(tmp_path / "in")
    pane.threshold_slider.setValue(90)
    assert "90%" in pane.threshold_label.text()
    with qtbot.waitSignal(pane.context.job_ended, timeout=30000):
        pane.start_sort()
    counts = {
        pane.summary_table.item(r, 0).text(): int(pane.summary_table.item(r, 1).text())
        for r in range(pane.summary_table.rowCount())
    }
    assert counts == {"_uncertain": 3}
    assert "Copied 3 images" in pane.message_label.text()
    assert len(list((tmp_path / "in").iterdir())) == 3  # copies: originals stay
