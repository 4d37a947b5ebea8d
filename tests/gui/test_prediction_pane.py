"""The prediction pane: every class's probability, sorted; the newest request wins."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cnndesk.gui.prediction_pane import PredictionPane
from tests.conftest import make_image
from tests.gui.pane_data import prediction_pane
from tests.model_folders import make_model_folder

pane_fixture = pytest.fixture(name="pane")(prediction_pane)

CLASSES = ("ants", "bees", "wasps")


def wait_answer(qtbot, pane: PredictionPane) -> None:  # type: ignore[no-untyped-def]
    worker = pane._last_worker
    if worker.is_running():
        qtbot.waitSignal(worker.finished, timeout=30000).wait()


def test_without_a_model_the_pane_says_to_train_one(qtbot, pane, tmp_path: Path) -> None:
    assert "No model yet" in pane.model_label.text()
    assert pane.predict(make_image(tmp_path / "a.png")) == 0
    assert "Train a model first" in pane.detail_label.text()


def test_every_class_is_shown_most_likely_first(qtbot, pane, tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "model", classes=CLASSES, constant=(0.0, 1.0, 2.0))
    pane.context.set_current_model(model)
    assert model.name in pane.model_label.text()
    assert pane.detail_label.text() == "It knows 3 classes: ants, bees, wasps."
    pane.predict(make_image(tmp_path / "a.png"))
    wait_answer(qtbot, pane)
    shown = pane.bars.scores()
    assert [name for name, _ in shown] == ["wasps", "bees", "ants"]
    assert shown[0][1] == pytest.approx(0.665, abs=0.001)
    assert sum(p for _, p in shown) == pytest.approx(1.0, abs=0.003)
    assert pane.answer_label.text().startswith("wasps — 66.5%")


def test_the_newest_request_wins_and_the_model_is_loaded_once(qtbot, pane, tmp_path) -> None:
    model = make_model_folder(tmp_path / "model", classes=CLASSES, constant=(0.0, 1.0, 2.0))
    pane.context.set_current_model(model)
    first = pane.predict(make_image(tmp_path / "first.png"))
    first_worker = pane._last_worker
    second = pane.predict(make_image(tmp_path / "second.png"))
    assert second > first
    wait_answer(qtbot, pane)
    if first_worker.is_running():
        qtbot.waitSignal(first_worker.finished, timeout=30000).wait()
    assert pane.prediction is not None and pane.prediction.file.endswith("second.png")
    assert pane.detail_label.text() == "second.png"
    assert pane.cache.loads == 1


def test_an_unreadable_file_says_why(qtbot, pane, tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "model", classes=CLASSES)
    pane.context.set_current_model(model)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    pane.predict(bad)
    wait_answer(qtbot, pane)
    assert pane.bars.rows == []
    assert pane.detail_label.text()


# PySide6 picks QDragEnterEvent's deprecated QPoint overload even for a QPointF.
@pytest.mark.filterwarnings("ignore:Function.*QDragEnterEvent:DeprecationWarning")
def test_dropping_an_image_predicts_it(qtbot, pane, tmp_path: Path) -> None:
    model = make_model_folder(tmp_path / "model", classes=CLASSES, constant=(2.0, 0.0, 0.0))
    pane.context.set_current_model(model)
    image = make_image(tmp_path / "dropped.png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image))])
    point = QPointF(20, 20)
    enter = QDragEnterEvent(
        point.toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(pane, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        point,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(pane, drop)
    assert pane.image_path == str(image)
    wait_answer(qtbot, pane)
    assert pane.bars.scores()[0][0] == "ants"


def test_the_library_current_image_is_answered_until_the_user_drops_one(
    qtbot, pane, tmp_path: Path
) -> None:
    model = make_model_folder(tmp_path / "model", classes=CLASSES, constant=(0.0, 1.0, 2.0))
    pane.context.set_current_model(model)
    pane.show()
    qtbot.waitExposed(pane)
    shown = make_image(tmp_path / "library.png")
    pane.context.current_image_changed.emit(
        SimpleNamespace(record=SimpleNamespace(path=str(shown)))
    )
    assert pane.image_path == str(shown)
    wait_answer(qtbot, pane)
    assert pane.detail_label.text() == "library.png (the library's current image)"
    pane._following_library = False  # what dropping or opening an image does
    pane.context.current_image_changed.emit(
        SimpleNamespace(record=SimpleNamespace(path=str(make_image(tmp_path / "next.png"))))
    )
    assert pane.image_path == str(shown)


def test_the_model_can_be_exported_and_is_checked(qtbot, pane, tmp_path: Path) -> None:
    assert pane.export_button.isHidden()  # nothing to export yet
    model = make_model_folder(tmp_path / "model", classes=CLASSES, constant=(0.0, 1.0, 2.0))
    pane.context.set_current_model(model)
    assert not pane.export_button.isHidden()
    out = tmp_path / "exported" / "model.pt"
    exported = lambda title: title == "Exporting the model"  # noqa: E731 (not the model's preload)
    with qtbot.waitSignal(pane.context.job_ended, timeout=120000, check_params_cb=exported):
        pane.export_model(out)
    assert out.is_file()
    assert "Exported model.pt" in pane.export_label.text()
    assert "Checked on" in pane.export_label.text()
