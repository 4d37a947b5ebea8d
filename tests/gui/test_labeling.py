"""Keyboard labeling in the main window: hotkeys, advancing, selections, undo/redo, suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt

from tests.gui.browser_data import open_window, unlabeled_library


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    yield window
    window.context.cancel_jobs()
    library.close()


def _press(qtbot, window, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.browser.view.setFocus()
    qtbot.keyClick(window.browser.view, key, modifier)


def _label_of(window, image_id: int) -> int | None:  # type: ignore[no-untyped-def]
    return window.context.library.image(image_id).class_id


def test_a_hotkey_labels_the_current_image_and_moves_to_the_next_unlabeled(qtbot, window) -> None:
    browser = window.browser
    red, blue = window.context.classes
    first = browser.current_record()
    assert first is not None and first.class_id is None
    # The third image is labeled already: labeling the second must skip it.
    third = browser.model.record(2)
    window.context.library.set_labels([third.id], red.id)
    browser.reload()
    qtbot.waitUntil(lambda: not browser.model.loading)
    browser.set_current_row(1)
    second = browser.current_record()

    with qtbot.waitSignal(window.context.labels_changed):
        _press(qtbot, window, Qt.Key.Key_2)

    assert _label_of(window, second.id) == blue.id
    assert browser.current_record().id == browser.model.record(3).id  # row 2 was labeled

    with qtbot.waitSignal(window.context.labels_changed):
        _press(qtbot, window, Qt.Key.Key_B)  # the class's own hotkey
    assert _label_of(window, browser.model.record(3).id) == blue.id
    assert browser.current_record().id == browser.model.record(4).id


def test_undo_restores_the_label_and_redo_applies_it_again(qtbot, window) -> None:
    browser = window.browser
    red = window.context.classes[0]
    image = browser.current_record()
    with qtbot.waitSignal(window.context.labels_changed):
        _press(qtbot, window, Qt.Key.Key_1)
    assert _label_of(window, image.id) == red.id
    assert browser.current_record().id != image.id

    with qtbot.waitSignal(window.context.labels_changed):
        _press(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _label_of(window, image.id) is None
    assert browser.current_record().id == image.id  # undo goes back to the image
    assert browser.model.record(browser.model.row_of(image.id)).class_id is None

    with qtbot.waitSignal(window.context.labels_changed):
        _press(
            qtbot,
            window,
            Qt.Key.Key_Z,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
        )
    assert _label_of(window, image.id) == red.id


def test_a_hotkey_labels_the_whole_selection(qtbot, window) -> None:
    browser = window.browser
    blue = window.context.classes[1]
    selection = browser.view.selectionModel()
    browser.set_current_row(1)
    for row in (1, 2, 4):
        selection.select(browser.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    chosen = [browser.model.record(r).id for r in (1, 2, 4)]

    with qtbot.waitSignal(window.context.labels_changed):
        _press(qtbot, window, Qt.Key.Key_2)

    assert [_label_of(window, i) for i in chosen] == [blue.id] * 3
    assert _label_of(window, browser.model.record(0).id) is None
    assert browser.current_record().id == browser.model.record(5).id
    # One undo step takes back the whole selection.
    window.context.undo_stack.undo()
    assert [_label_of(window, i) for i in chosen] == [None] * 3


def test_enter_accepts_the_models_suggestion(qtbot, window) -> None:
    browser = window.browser
    image = browser.model.record(0)
    window.context.library.set_suggestions([(image.id, "blue", 0.62)])
    browser.reload()
    qtbot.waitUntil(lambda: not browser.model.loading)
    browser.set_current_row(0)
    blue = window.context.class_by_id(browser.current_record().suggested_class_id)
    assert blue is not None and blue.name == "blue"

    with qtbot.waitSignal(window.context.labels_changed):
        _press(qtbot, window, Qt.Key.Key_Return)
    assert _label_of(window, image.id) == blue.id


def test_typing_in_the_search_box_does_not_label(qtbot, window) -> None:
    browser = window.browser
    browser.focus_search()
    qtbot.waitUntil(lambda: browser.search_box.hasFocus() or not window.isActiveWindow())
    window._on_app_focus_changed(None, browser.search_box)  # offscreen focus may not move
    assert not window.actions_by_id["label.class.1"].isEnabled()
    window._on_app_focus_changed(browser.search_box, browser.view)
    assert window.actions_by_id["label.class.1"].isEnabled()


def test_space_and_arrows_navigate(qtbot, window) -> None:
    browser = window.browser
    _press(qtbot, window, Qt.Key.Key_Right)
    assert browser.view.currentIndex().row() == 1
    _press(qtbot, window, Qt.Key.Key_Left)
    assert browser.view.currentIndex().row() == 0
    window.context.library.set_labels([browser.model.record(1).id], window.context.classes[0].id)
    browser.reload()
    qtbot.waitUntil(lambda: not browser.model.loading)
    browser.set_current_row(0)
    _press(qtbot, window, Qt.Key.Key_Space)
    assert browser.view.currentIndex().row() == 2  # row 1 is labeled


def test_labeling_very_many_images_asks_first(qtbot, window, monkeypatch) -> None:
    import cnndesk.gui.browser_pane as browser_pane

    monkeypatch.setattr(browser_pane, "MANY", 3)
    browser = window.browser
    asked: list[str] = []
    monkeypatch.setattr(browser, "confirm_many", lambda q: asked.append(q) or False)
    browser.select_all()
    assert not browser.label_with(window.context.classes[0].id)
    assert asked == ["Label 6 images as red?"]
    assert all(_label_of(window, r.id) is None for r in browser.model.records())
    monkeypatch.setattr(browser, "confirm_many", lambda q: True)
    with qtbot.waitSignal(window.context.labels_changed):
        assert browser.label_with(window.context.classes[0].id)
    assert all(_label_of(window, r.id) is not None for r in browser.model.records())


def test_labeled_images_stay_in_the_unlabeled_view_until_refresh(qtbot, window) -> None:
    from cnndesk.domain import ImageQuery, ImageView

    browser = window.browser
    with qtbot.waitSignal(browser.filter_applied, timeout=5000):
        browser.set_query(ImageQuery(view=ImageView.UNLABELED))
    with qtbot.waitSignal(window.context.labels_changed):
        _press(qtbot, window, Qt.Key.Key_1)
    assert browser.model.rowCount() == 6  # the row the user just labeled does not vanish
    assert browser.view.currentIndex().row() == 1
    with qtbot.waitSignal(browser.filter_applied, timeout=5000):
        window.actions_by_id["view.refresh"].trigger()
    assert browser.model.rowCount() == 5
    assert browser.current_record().class_id is None
