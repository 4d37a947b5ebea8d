"""The action table: stable unique ids, no shortcut used twice (class hotkeys and panes included)."""

from __future__ import annotations

from pathlib import Path

from cnndesk.gui.actions import (
    ACTIONS,
    class_hotkeys,
    effective_shortcuts,
    hotkey_owner,
    shortcut_conflicts,
)
from tests.gui.browser_data import open_window, unlabeled_library


def test_action_ids_are_unique_and_every_default_shortcut_is_distinct() -> None:
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))
    assert shortcut_conflicts(effective_shortcuts(ACTIONS)) == {}


def test_conflicts_are_found_whatever_the_spelling() -> None:
    conflicts = shortcut_conflicts({"a": "Ctrl+Z", "b": "ctrl+z", "c": "Ctrl+Y"})
    assert list(conflicts.values()) == [["a", "b"]]
    assert hotkey_owner("space", effective_shortcuts(ACTIONS)) == "go.next_unlabeled"


def test_no_two_actions_of_the_window_share_a_shortcut(qtbot, tmp_path: Path) -> None:
    library = unlabeled_library(tmp_path)  # "blue" has its own key, B
    library.add_class("green", hotkey="G")
    window = open_window(qtbot, library)
    shortcuts = {
        action.objectName(): action.shortcut().toString()
        for action in window.actions()
        if action.objectName()
    }
    assert {"label.class.1", "edit.undo", "pane.browser", "pane.sort"} <= set(shortcuts)
    assert sum(name.startswith("label.hotkey.") for name in shortcuts) == 2
    assert shortcut_conflicts(shortcuts) == {}
    assert class_hotkeys(window.context.classes) == {
        f"label.hotkey.{c.id}": c.hotkey for c in window.context.classes if c.hotkey
    }
    library.close()


def test_a_users_shortcut_override_is_applied(qtbot, tmp_path: Path) -> None:
    from cnndesk.gui.settings import AppSettings

    AppSettings().set_shortcut("go.next_unlabeled", "N")
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    assert window.actions_by_id["go.next_unlabeled"].shortcut().toString() == "N"
    library.close()


def test_shortcuts_can_be_changed_and_collisions_are_refused(qtbot, tmp_path: Path) -> None:
    from cnndesk.gui.settings import AppSettings
    from cnndesk.gui.shortcuts_dialog import ShortcutsDialog

    library = unlabeled_library(tmp_path)  # "blue" has the key B
    window = open_window(qtbot, library)

    problems = window.apply_shortcuts({"go.next_unlabeled": "B"})
    assert problems == [
        "B is used by the class 'blue' and “Next &Unlabeled Image”.".replace("&", "")
    ]
    assert window.actions_by_id["go.next_unlabeled"].shortcut().toString() == "Space"
    assert window.apply_shortcuts({"go.next": "Left"})  # the previous-image key

    assert window.apply_shortcuts({"go.next_unlabeled": "N", "edit.find": "Ctrl+K"}) == []
    assert window.actions_by_id["go.next_unlabeled"].shortcut().toString() == "N"
    assert window.actions_by_id["edit.find"].shortcut().toString() == "Ctrl+K"
    assert AppSettings().shortcut_overrides() == {"go.next_unlabeled": "N", "edit.find": "Ctrl+K"}
    assert window.apply_shortcuts({"edit.find": "Ctrl+F"}) == []  # back to the default
    assert AppSettings().shortcut_overrides() == {"go.next_unlabeled": "N"}

    dialog = ShortcutsDialog(
        window.all_action_specs(),
        window.context.action_shortcuts,
        reserved={"label.hotkey.2": "B"},
        names={"label.hotkey.2": "the class 'blue'"},
    )
    qtbot.addWidget(dialog)
    assert dialog.shortcuts()["go.next_unlabeled"] == "N"
    dialog.set_shortcut("edit.undo", "B")
    assert dialog.problems() and "the class 'blue'" in dialog.problems()[0]
    dialog.set_shortcut("edit.undo", "Ctrl+Z")
    assert dialog.problems() == []
    library.close()


def test_ctrl_t_brings_the_train_tab_forward_and_starts_a_run(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    from cnndesk.gui.training_pane import TrainingPane

    started: list[TrainingPane] = []
    monkeypatch.setattr(
        TrainingPane, "start_training", lambda self, config=None: started.append(self)
    )
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    action = window.actions_by_id["model.train"]
    assert action.shortcut().toString() == "Ctrl+T"
    action.trigger()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Train"
    assert started == [window.pane("training")]
    library.close()
