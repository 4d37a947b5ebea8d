"""The library browser: its model, filters, search, thumbnails, drop-to-import and the viewer."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cnndesk.domain import ImageQuery, ImageView
from cnndesk.gui.library_model import Role
from tests.conftest import make_image
from tests.gui.browser_data import open_window, unlabeled_library


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    yield window
    window.context.cancel_jobs()
    library.close()


def _show(qtbot, browser, query: ImageQuery) -> list[str]:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(browser.filter_applied, timeout=5000):
        browser.set_query(query)
    return [r.name for r in browser.model.records()]


def test_the_library_model_passes_qt_model_tester(qtmodeltester, window) -> None:
    model = window.browser.model
    assert model.rowCount() == 6
    qtmodeltester.check(model, force_py=True)


def test_rows_carry_label_and_suggestion_for_the_delegate(qtbot, window) -> None:
    browser = window.browser
    library = window.context.library
    red = window.context.classes[0]
    first, second = browser.model.record(0), browser.model.record(1)
    library.set_labels([first.id], red.id)
    library.set_suggestions([(second.id, "blue", 0.62)])
    with qtbot.waitSignal(browser.model.loaded):
        browser.reload()
    assert browser.model.index(0).data(Role.LABEL).name == "red"
    info, confidence = browser.model.index(1).data(Role.SUGGESTION)
    assert (info.name, confidence) == ("blue", pytest.approx(0.62))


def test_thumbnails_load_off_the_gui_thread_then_show(qtbot, window) -> None:
    model = window.browser.model
    index = model.index(0)
    if index.data(Qt.ItemDataRole.DecorationRole) is None:  # not cached yet: a load is queued
        with qtbot.waitSignal(model.thumbnails.loaded, timeout=5000):
            pass
    qtbot.waitUntil(lambda: index.data(Qt.ItemDataRole.DecorationRole) is not None)
    pixmap = index.data(Qt.ItemDataRole.DecorationRole)
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) <= model.thumbnails.side


def test_filters_and_search(qtbot, window) -> None:
    browser = window.browser
    library = window.context.library
    red, blue = window.context.classes
    records = browser.model.records()
    library.set_labels([records[0].id, records[1].id], red.id)
    library.set_labels([records[2].id], blue.id)
    library.set_suggestions(
        [(records[2].id, "red", 0.9), (records[3].id, "blue", 0.4), (records[4].id, "blue", 0.95)]
    )

    assert _show(qtbot, browser, ImageQuery()) == [f"img_{n}.png" for n in range(6)]
    assert _show(qtbot, browser, ImageQuery(view=ImageView.UNLABELED)) == [
        "img_3.png",
        "img_4.png",
        "img_5.png",
    ]
    assert _show(qtbot, browser, ImageQuery(view=ImageView.CLASS, class_id=red.id)) == [
        "img_0.png",
        "img_1.png",
    ]
    predicted = ImageQuery(view=ImageView.PREDICTED, class_id=blue.id)
    assert _show(qtbot, browser, predicted) == ["img_3.png", "img_4.png"]
    assert _show(qtbot, browser, ImageQuery(view=ImageView.MISCLASSIFIED)) == ["img_2.png"]
    low = ImageQuery(view=ImageView.LOW_CONFIDENCE, confidence_below=0.6, order="least_confident")
    assert _show(qtbot, browser, low) == ["img_3.png"]
    assert browser.filter_box.currentText().startswith("Low confidence")

    # Search narrows the chosen filter, typed into the box like a user would.
    _show(qtbot, browser, ImageQuery())
    with qtbot.waitSignal(browser.filter_applied, timeout=5000):
        browser.search_box.setText("IMG_4")
    assert [r.name for r in browser.model.records()] == ["img_4.png"]
    assert browser.count_label.text().startswith("1 shown")


def test_the_evaluation_can_ask_the_browser_for_chosen_images(qtbot, window) -> None:
    browser = window.browser
    wanted = (browser.model.record(1).id, browser.model.record(3).id)
    window.show_pane("training")
    with qtbot.waitSignal(browser.filter_applied, timeout=5000):
        window.context.show_images(ImageQuery(image_ids=wanted, title="true red, predicted blue"))
    assert [r.id for r in browser.model.records()] == list(wanted)
    assert browser.filter_box.currentText() == "true red, predicted blue"
    assert window.tabs.currentWidget().objectName() == "browserTab"


def test_an_empty_filter_says_so(qtbot, window) -> None:
    browser = window.browser
    with qtbot.waitSignal(browser.filter_applied, timeout=5000):
        browser.search_box.setText("no such file")
    assert browser.stack.currentWidget() is browser.empty_label
    assert "No images match" in browser.empty_label.text()


def test_the_viewer_shows_the_current_image(qtbot, window) -> None:
    viewer = window.panes["viewer"]
    browser = window.browser
    browser.set_current_row(2)
    qtbot.waitUntil(
        lambda: (
            viewer.canvas.source() is not None
            and viewer.settled
            and viewer.shown.record.id == browser.current_record().id
        )
    )
    assert "img_2.png" in viewer.title_label.text()
    assert "64×48" in viewer.details_label.text()


def _drop(widget, paths: list[Path]) -> None:  # type: ignore[no-untyped-def]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    position = QPointF(QPoint(20, 20))
    enter = QDragEnterEvent(
        position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        position, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


def test_dropping_a_folder_imports_it_with_folders_as_classes(
    qtbot, window, tmp_path, monkeypatch
) -> None:
    root = tmp_path / "pets"
    for name, colour in (("cats", (200, 120, 40)), ("dogs", (40, 120, 200))):
        for n in range(3):
            make_image(root / name / f"{name}{n}.jpg", colour=colour, fmt="JPEG")
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    asked: list[list[str]] = []
    refused: list[list] = []
    importer = window.importer
    monkeypatch.setattr(
        importer, "ask_folders_as_classes", lambda paths: asked.append(paths) or True
    )
    monkeypatch.setattr(importer, "show_refused", lambda files: refused.append(files))

    with qtbot.waitSignal(importer.import_finished, timeout=20000) as finished:
        _drop(window.browser.drop_target(), [root])
    result = finished.args[0]

    assert asked == [[str(root)]]
    assert result.added == 6 and sorted(result.classes_created) == ["cats", "dogs"]
    assert [r.path.endswith("broken.jpg") for r in refused[0]] == [True]
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 12, timeout=5000)
    qtbot.waitUntil(lambda: "cats" in [c.name for c in window.context.classes], timeout=5000)
    assert window.context.stats.images == 12


def test_dropping_files_on_the_window_imports_them_without_asking(
    qtbot, window, tmp_path, monkeypatch
) -> None:
    files = [make_image(tmp_path / "loose" / f"x{n}.png") for n in range(2)]
    importer = window.importer
    monkeypatch.setattr(importer, "ask_folders_as_classes", lambda paths: pytest.fail("asked"))
    with qtbot.waitSignal(importer.import_finished, timeout=20000) as finished:
        _drop(window, files)
    assert finished.args[0].added == 2
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 8, timeout=5000)
