"""The class panel: add, rename, recolour, re-key, reorder and delete classes; counts and balance."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui.browser_data import open_window, unlabeled_library


@pytest.fixture
def warnings_shown(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Refusals the pane shows in a (modal) message box, recorded instead of shown."""
    shown: list[str] = []
    monkeypatch.setattr(
        "cnndesk.gui.class_pane.QMessageBox.warning", lambda _p, _t, text: shown.append(text)
    )
    return shown


@pytest.fixture
def window(qtbot, tmp_path: Path, warnings_shown):  # type: ignore[no-untyped-def]
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    yield window
    library.close()


def _names(pane) -> list[str]:  # type: ignore[no-untyped-def]
    tree = pane.tree
    return [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]


def _choose(pane, name: str) -> None:  # type: ignore[no-untyped-def]
    tree = pane.tree
    for i in range(tree.topLevelItemCount()):
        if tree.topLevelItem(i).text(0) == name:
            tree.setCurrentItem(tree.topLevelItem(i))
            return
    raise AssertionError(f"{name} is not listed")


def test_the_buttons_add_rename_and_delete_classes(qtbot, window, monkeypatch) -> None:
    pane = window.panes["classes"]
    context = window.context
    assert _names(pane) == ["red", "blue"]

    monkeypatch.setattr(pane, "ask_text", lambda *a, **k: "  green ")
    with qtbot.waitSignal(context.classes_loaded):
        pane.add_button.click()
    assert _names(pane) == ["red", "blue", "green"]
    assert window.actions_by_id["label.class.3"].text() == "Label as green"

    _choose(pane, "green")
    monkeypatch.setattr(pane, "ask_text", lambda *a, **k: "lime")
    with qtbot.waitSignal(context.classes_loaded):
        pane.rename_button.click()
    assert _names(pane) == ["red", "blue", "lime"]

    red = context.classes[0]
    context.library.set_labels([window.browser.model.record(0).id], red.id)
    _choose(pane, "red")
    monkeypatch.setattr(pane, "confirm", lambda *a: True)
    with qtbot.waitSignal(context.classes_loaded):
        pane.remove_button.click()
    assert _names(pane) == ["blue", "lime"]
    assert context.library.image(window.browser.model.record(0).id).class_id is None


def test_duplicate_names_are_refused_with_a_message(qtbot, window, warnings_shown) -> None:
    pane = window.panes["classes"]
    with qtbot.waitSignal(window.context.status_message) as message:
        assert not pane.add_class("red")
    assert "already exists" in message.args[0]
    assert warnings_shown == [message.args[0]]


def test_a_class_hotkey_that_an_action_uses_is_refused(qtbot, window) -> None:
    pane = window.panes["classes"]
    with qtbot.waitSignal(window.context.status_message) as message:
        assert not pane.set_hotkey("red", "Space")
    assert "Next Unlabeled Image" in message.args[0]
    with qtbot.waitSignal(window.context.status_message) as message:
        assert not pane.set_hotkey("red", "b")  # blue's key
    assert "blue" in message.args[0]
    with qtbot.waitSignal(window.context.classes_loaded):
        assert pane.set_hotkey("red", "r")
    assert window.context.classes[0].hotkey == "R"
    assert f"label.hotkey.{window.context.classes[0].id}" in {
        a.objectName() for a in window.actions()
    }


def test_reordering_changes_which_number_key_labels_what(qtbot, window) -> None:
    pane = window.panes["classes"]
    _choose(pane, "blue")
    with qtbot.waitSignal(window.context.classes_loaded):
        pane.up_button.click()
    assert _names(pane) == ["blue", "red"]
    assert window.context.class_at(0).name == "blue"
    assert window.actions_by_id["label.class.1"].text() == "Label as blue"


def test_counts_and_the_balance_bar_follow_labels(qtbot, window) -> None:
    pane = window.panes["classes"]
    browser = window.browser
    browser.set_current_row(0)
    with qtbot.waitSignal(window.context.stats_loaded, timeout=5000):
        browser.label_with_position(1)  # blue
    assert pane.tree.topLevelItem(1).text(2) == "1"
    assert pane.balance_bar.segments() == [("blue", 1), ("unlabeled", 5)]
    assert "Needs more images" in pane.summary_label.text()
