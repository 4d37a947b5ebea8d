"""The window's menus and shortcuts: one ``QAction`` per row of :data:`~cnndesk.gui.actions.ACTIONS`
(plus a "show pane" action per pane), the menu bar, the class-hotkey actions that follow the
library's classes, and the user's shortcut overrides (Edit → Keyboard Shortcuts…).

The window hands :class:`WindowActions` what each action does (action id → callable); this
module only builds and keeps the actions. Plain-key (``bare``) actions are switched off while a
text field has the focus, so typing a search never labels an image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QLineEdit,
    QMainWindow,
    QMenu,
    QTextEdit,
    QWidget,
)

from cnndesk.gui.actions import (
    ActionSpec,
    class_hotkeys,
    effective_shortcuts,
    normalized,
    shortcut_conflicts,
)
from cnndesk.gui.context import AppContext

log = logging.getLogger(__name__)

MENUS = ("File", "Edit", "Label", "Go", "Model", "View")
SEPARATED_AFTER = ("file.import_files", "edit.redo", "label.class.9", "view.refresh")
"""A menu separator follows these actions."""
TOOL_ACTIONS = (("view.zoom_out", "−"), ("view.zoom_in", "+"), ("view.list_mode", "List"))
"""Actions the browser shows as buttons on its bar, with the buttons' short text."""


def spec_text(action: QAction) -> str:
    """An action's menu text without its mnemonic ampersand."""
    return action.text().replace("&", "")


def is_bare(sequence: str) -> bool:
    """A plain key, without Ctrl/Alt/Meta (off while typing in a text field)."""
    return bool(sequence) and not any(mod in sequence for mod in ("Ctrl+", "Alt+", "Meta+"))


class WindowActions(QObject):
    """The window's actions (:attr:`by_id`: action id → ``QAction``) and menus.

    ``handlers`` maps an action id to what it does (``None`` or missing: the action is shown
    disabled); ``pane.<id>`` actions call ``show_pane``; a class's own hotkey calls
    ``label_with(class id)``.
    """

    def __init__(
        self,
        window: QMainWindow,
        context: AppContext,
        *,
        specs: list[ActionSpec],
        handlers: Mapping[str, Callable[..., object] | None],
        show_pane: Callable[[str], object],
        label_with: Callable[[int], object],
        recent_menu: QMenu,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._context = context
        self._specs = specs
        self._label_with = label_with
        self.by_id: dict[str, QAction] = {}
        self._class_actions: list[QAction] = []
        self._build_actions(handlers, show_pane)
        self._connect_undo_stack()
        self.class_menu = self._build_menus(recent_menu)
        context.classes_loaded.connect(self._on_context_classes_loaded)
        QApplication.instance().focusChanged.connect(self.on_focus_changed)  # type: ignore[union-attr]

    # ------------------------------------------------------------------------------ build

    def _build_actions(
        self,
        handlers: Mapping[str, Callable[..., object] | None],
        show_pane: Callable[[str], object],
    ) -> None:
        overrides = self._context.settings.shortcut_overrides()
        shortcuts = effective_shortcuts(self._specs, overrides)
        for sequence, ids in shortcut_conflicts(shortcuts).items():
            log.warning("shortcut %s is used by %s; only the first keeps it", sequence, ids)
            for action_id in ids[1:]:
                shortcuts[action_id] = ""
        for spec in self._specs:
            action = QAction(spec.text, self._window)
            action.setObjectName(spec.id)
            action.setCheckable(spec.checkable)
            if shortcuts[spec.id]:
                action.setShortcut(QKeySequence(shortcuts[spec.id]))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if spec.tip:
                action.setStatusTip(spec.tip)
            if spec.id.startswith("pane."):
                pane_id = spec.id.removeprefix("pane.")
                action.triggered.connect(lambda _=False, p=pane_id: show_pane(p))
            elif handlers.get(spec.id) is not None:
                action.triggered.connect(handlers[spec.id])
            else:
                action.setEnabled(False)
            action.setProperty("bare", spec.bare)
            self._window.addAction(action)
            self.by_id[spec.id] = action
        self.by_id["view.list_mode"].setChecked(self._context.settings.browser_mode == "list")
        self._context.action_shortcuts = dict(shortcuts)

    def _connect_undo_stack(self) -> None:
        stack = self._context.undo_stack
        stack.canUndoChanged.connect(self.by_id["edit.undo"].setEnabled)
        stack.canRedoChanged.connect(self.by_id["edit.redo"].setEnabled)
        self.by_id["edit.undo"].setEnabled(False)
        self.by_id["edit.redo"].setEnabled(False)
        stack.undoTextChanged.connect(self._on_undo_stack_undo_text_changed)
        stack.redoTextChanged.connect(self._on_undo_stack_redo_text_changed)

    def _build_menus(self, recent_menu: QMenu) -> QMenu:
        bar = self._window.menuBar()
        menus = {name: bar.addMenu(f"&{name}") for name in MENUS}
        for spec in self._specs:
            if spec.menu in menus:
                menu = menus[spec.menu]
                menu.addAction(self.by_id[spec.id])
                if spec.id == "file.open":
                    menu.addMenu(recent_menu)
                if spec.id in SEPARATED_AFTER:
                    menu.addSeparator()
        return menus["Label"]

    def add_tool_actions(self, add: Callable[[QAction], object]) -> None:
        """Show the zoom and list-mode actions as buttons (``add``: the browser's bar)."""
        for action_id, short in TOOL_ACTIONS:
            action = self.by_id[action_id]
            action.setIconText(short)  # what a tool button shows; menus keep the text
            action.setToolTip(f"{spec_text(action)} ({action.shortcut().toString()})")
            add(action)

    def rebuild_class_actions(self) -> None:
        """Each class's own hotkey (keys 1–9 are fixed actions that follow the class order)."""
        for action in self._class_actions:
            self._window.removeAction(action)
            self.class_menu.removeAction(action)
            action.deleteLater()
        self._class_actions = []
        classes = self._context.classes
        used = {k.lower() for k in self._context.action_shortcuts.values() if k}
        for position, info in enumerate(classes):
            label = self.by_id.get(f"label.class.{position + 1}")
            if label is not None:
                label.setText(f"Label as {info.name}")
        for n in range(len(classes) + 1, 10):
            self.by_id[f"label.class.{n}"].setText(f"Label as Class {n} (none yet)")
        for action_id, hotkey in class_hotkeys(classes).items():
            if hotkey.lower() in used:
                log.warning("class hotkey %s clashes with an action; ignored", hotkey)
                continue
            class_id = int(action_id.rsplit(".", 1)[1])
            info = self._context.class_by_id(class_id)
            action = QAction(f"Label as {info.name if info else class_id}", self._window)
            action.setObjectName(action_id)
            action.setShortcut(QKeySequence(hotkey))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setProperty("bare", True)
            action.triggered.connect(lambda _=False, c=class_id: self._label_with(c))
            self._window.addAction(action)
            self.class_menu.addAction(action)
            self._class_actions.append(action)

    # -------------------------------------------------------------------------- shortcuts

    def edit_shortcuts(self) -> None:
        """Edit → Keyboard Shortcuts…: the dialog, then its keys applied."""
        from cnndesk.gui.shortcuts_dialog import ShortcutsDialog

        dialog = ShortcutsDialog(
            self._specs,
            self._context.action_shortcuts,
            reserved=class_hotkeys(self._context.classes),
            names=self._shortcut_owner_names(),
            parent=self._window,
        )
        if dialog.exec() == ShortcutsDialog.DialogCode.Accepted:
            self.apply_shortcuts(dialog.shortcuts())

    def _shortcut_owner_names(self) -> dict[str, str]:
        names = {a.id: f"“{a.text.replace('&', '')}”" for a in self._specs}
        for info in self._context.classes:
            names[f"label.hotkey.{info.id}"] = f"the class {info.name!r}"
        return names

    def apply_shortcuts(self, shortcuts: dict[str, str]) -> list[str]:
        """Use these keys (action id → key) now and from now on; the problems if they collide."""
        from cnndesk.gui.shortcuts_dialog import check_shortcuts

        wanted = {**self._context.action_shortcuts, **shortcuts}
        problems = check_shortcuts(
            wanted, class_hotkeys(self._context.classes), self._shortcut_owner_names()
        )
        if problems:
            return problems
        defaults = {spec.id: spec.shortcut for spec in self._specs}
        settings = self._context.settings
        for action_id, sequence in shortcuts.items():
            action = self.by_id.get(action_id)
            if action is None:
                continue
            action.setShortcut(QKeySequence(sequence))
            action.setProperty("bare", is_bare(sequence))
            if normalized(sequence) == normalized(defaults.get(action_id, "")):
                settings.reset_shortcut(action_id)
            else:
                settings.set_shortcut(action_id, sequence)
        settings.sync()
        self._context.action_shortcuts = wanted
        self.rebuild_class_actions()
        return []

    # ------------------------------------------------------------------------------ slots

    @Slot(QWidget, QWidget)
    def on_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        """Plain-key actions are off while a text field has the focus (typing is not labeling)."""
        typing = isinstance(new, QLineEdit | QTextEdit | QAbstractSpinBox)
        for action in [*self.by_id.values(), *self._class_actions]:
            if action.property("bare"):
                action.setEnabled(not typing)

    @Slot(list)
    def _on_context_classes_loaded(self, _classes: list) -> None:
        self.rebuild_class_actions()

    @Slot(str)
    def _on_undo_stack_undo_text_changed(self, text: str) -> None:
        self.by_id["edit.undo"].setText(f"&Undo {text}" if text else "&Undo")

    @Slot(str)
    def _on_undo_stack_redo_text_changed(self, text: str) -> None:
        self.by_id["edit.redo"].setText(f"&Redo {text}" if text else "&Redo")
