"""Every menu command and keyboard shortcut of the app, as one table with stable ids; the
status-bar tips are a second table, :data:`TIPS`, keyed by the same ids.

The ids never change (settings store the user's shortcut overrides under them, tests look
actions up by them). ``window_actions`` builds a ``QAction`` per row, and ``main_window`` says
what each one does; panes do not define shortcuts of their own. Class hotkeys (keys 1–9 by class position, plus each class's own
key) come from the library; :func:`shortcut_conflicts` checks the whole set for collisions, and
the class pane refuses a class hotkey that an action already uses.

``bare`` actions are plain keys (letters, digits, Space, Return, arrows): they are disabled while a
text field has the focus, so typing a search never labels an image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from PySide6.QtGui import QKeySequence

from cnndesk.domain import ClassInfo


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One command: a stable id, its menu text, its default shortcut and where it appears."""

    id: str
    text: str
    shortcut: str = ""
    menu: str = ""
    """``File``, ``Edit``, ``Label``, ``Go``, ``Model``, ``View``; empty: keyboard only."""
    tip: str = ""
    checkable: bool = False

    @property
    def bare(self) -> bool:
        """A plain key, without Ctrl/Alt/Meta: off while typing in a text field."""
        return bool(self.shortcut) and not any(
            mod in self.shortcut for mod in ("Ctrl+", "Alt+", "Meta+")
        )


TIPS: dict[str, str] = {
    "file.new": "Create an empty library file",
    "file.open": "Open another library file",
    "file.import": "Add a folder of images",
    "file.import_files": "Add single image files",
    "file.check": "Re-read every image's file: missing, changed (check the label), readable again",
    "file.verify": "Read and re-hash every file, even one whose size and time are unchanged (slower)",
    **{
        f"label.class.{n}": f"Label the current image (or the selection) with the {n}. class and go on"
        for n in range(1, 10)
    },
    "label.accept": "Make the model's suggestion the label and go on",
    "view.heatmap": "Show where the model found its top class in the current image (Grad-CAM)",
    "model.train": "Train a model on the labeled images now",
    "model.stop": "Stop and keep the best model",
}
"""Action id → the status-bar tip of that action (actions without one show none)."""

_ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("file.new", "&New Library…", "Ctrl+N", "File"),
    ActionSpec("file.open", "&Open Library…", "Ctrl+O", "File"),
    ActionSpec("file.import", "&Import Folder…", "Ctrl+I", "File"),
    ActionSpec("file.import_files", "Import &Files…", "Ctrl+Shift+I", "File"),
    ActionSpec("file.check", "&Check Library", "", "File"),
    ActionSpec("file.verify", "&Verify Library Contents", "", "File"),
    ActionSpec("file.quit", "&Quit", "Ctrl+Q", "File"),
    ActionSpec("edit.undo", "&Undo", "Ctrl+Z", "Edit"),
    ActionSpec("edit.redo", "&Redo", "Ctrl+Shift+Z", "Edit"),
    ActionSpec("edit.find", "&Find by File Name", "Ctrl+F", "Edit"),
    ActionSpec("edit.select_all", "Select &All Shown", "Ctrl+A", "Edit"),
    ActionSpec("edit.shortcuts", "Keyboard &Shortcuts…", "", "Edit"),
    *(ActionSpec(f"label.class.{n}", f"Label as Class {n}", str(n), "Label") for n in range(1, 10)),
    ActionSpec("label.accept", "&Accept Suggestion", "Return", "Label"),
    ActionSpec("label.clear", "&Remove Label", "Backspace", "Label"),
    ActionSpec("go.next", "&Next Image", "Right", "Go"),
    ActionSpec("go.previous", "&Previous Image", "Left", "Go"),
    ActionSpec("go.next_unlabeled", "Next &Unlabeled Image", "Space", "Go"),
    ActionSpec("go.previous_unlabeled", "Previous Unlabeled Image", "Shift+Space", "Go"),
    ActionSpec("view.list_mode", "Show as &List", "Ctrl+L", "View", checkable=True),
    ActionSpec("view.zoom_in", "&Larger Thumbnails", "Ctrl+=", "View"),
    ActionSpec("view.zoom_out", "&Smaller Thumbnails", "Ctrl+-", "View"),
    ActionSpec("view.refresh", "&Refresh", "Ctrl+R", "View"),
    ActionSpec("view.heatmap", "Toggle &Heat Map", "H", "View"),
    ActionSpec("model.train", "&Train", "Ctrl+T", "Model"),
    ActionSpec("model.stop", "&Stop Training", "Ctrl+.", "Model"),
)

ACTIONS: tuple[ActionSpec, ...] = tuple(
    replace(spec, tip=TIPS.get(spec.id, "")) for spec in _ACTIONS
)
"""Every action of the window (the pane actions aside, see :func:`pane_action`), with its tip."""

ACTIONS_BY_ID: dict[str, ActionSpec] = {a.id: a for a in ACTIONS}

PANE_SHORTCUT_PREFIX = "Alt+"
"""Panes are brought to the front with Alt+1, Alt+2 ... in the order of ``main_window.PANES``."""


def pane_action(pane_id: str, title: str, position: int) -> ActionSpec:
    """The "show this pane" action of the pane at ``position`` (0-based) of the pane table."""
    shortcut = f"{PANE_SHORTCUT_PREFIX}{position + 1}" if position < 9 else ""
    return ActionSpec(f"pane.{pane_id}", f"Show {title.replace('&', '')}", shortcut, "View")


def normalized(sequence: str) -> str:
    """A shortcut in Qt's portable text form, so ``ctrl+z`` and ``Ctrl+Z`` compare equal."""
    return QKeySequence(sequence).toString(QKeySequence.SequenceFormat.PortableText)


def effective_shortcuts(
    specs: Iterable[ActionSpec], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Action id → shortcut, the user's override where there is one."""
    overrides = overrides or {}
    return {spec.id: overrides.get(spec.id, spec.shortcut) for spec in specs}


def class_hotkeys(classes: Iterable[ClassInfo]) -> dict[str, str]:
    """``label.hotkey.<class id>`` → the class's own hotkey, for classes that have one."""
    return {f"label.hotkey.{c.id}": c.hotkey for c in classes if c.hotkey}


def shortcut_conflicts(shortcuts: Mapping[str, str]) -> dict[str, list[str]]:
    """Shortcuts used by more than one action: normalized shortcut → the action ids using it."""
    users: dict[str, list[str]] = {}
    for action_id, sequence in shortcuts.items():
        if sequence:
            users.setdefault(normalized(sequence), []).append(action_id)
    return {key: ids for key, ids in users.items() if len(ids) > 1}


def hotkey_owner(hotkey: str, shortcuts: Mapping[str, str]) -> str | None:
    """The action id already using ``hotkey``, if any (for refusing a clashing class hotkey)."""
    wanted = normalized(hotkey)
    for action_id, sequence in shortcuts.items():
        if sequence and normalized(sequence) == wanted:
            return action_id
    return None
