"""The browser's right-click menu and what its file commands do.

The menu is built for the images a command would apply to (the selection, or the current
image): Label as ▸ (one entry per class), Clear label, Open, Show in file manager, Copy path(s),
Set split ▸, Remove from library…. Labeling and removing go through the browser (they are
undoable and move on); the rest are the small functions below (setting a split is undoable too).
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMenu, QWidget

from cnndesk.domain import ClassInfo, ImageRecord, Split
from cnndesk.gui.context import AppContext
from cnndesk.gui.reveal import show_in_file_manager
from cnndesk.gui.undo import push_split


class ImageCommands(Protocol):
    """What the menu's entries call (the browser pane has these)."""

    def label_with(self, class_id: int | None) -> bool: ...
    def clear_label(self) -> bool: ...
    def open_current(self) -> bool: ...
    def show_in_file_manager(self) -> bool: ...
    def copy_paths(self) -> str: ...
    def set_split(self, split: Split) -> bool: ...
    def remove_selected(self) -> bool: ...


def context_menu(
    parent: QWidget,
    *,
    records: list[ImageRecord],
    classes: list[ClassInfo],
    commands: ImageCommands,
) -> QMenu:
    """The right-click menu for ``records`` (entries that do not apply are disabled)."""
    many = len(records) > 1
    menu = QMenu(parent)
    menu.setObjectName("browserContextMenu")
    label_menu = menu.addMenu("Label as")
    label_menu.setObjectName("labelAsMenu")
    for info in classes:
        action = label_menu.addAction(info.name)
        action.triggered.connect(lambda _=False, c=info.id: commands.label_with(c))
    if not classes:
        label_menu.addAction("(no classes yet: add them in the Classes panel)").setEnabled(False)
    menu.addAction("Clear label", commands.clear_label).setEnabled(
        any(r.class_id is not None for r in records)
    )
    menu.addSeparator()
    menu.addAction("Open", commands.open_current).setEnabled(len(records) == 1)
    menu.addAction("Show in file manager", commands.show_in_file_manager).setEnabled(bool(records))
    menu.addAction("Copy paths" if many else "Copy path", commands.copy_paths).setEnabled(
        bool(records)
    )
    split_menu = menu.addMenu("Set split")
    split_menu.setObjectName("splitMenu")
    for split in Split:
        action = split_menu.addAction(split.value)
        action.triggered.connect(lambda _=False, s=split: commands.set_split(s))
    menu.addSeparator()
    menu.addAction(
        f"Remove {len(records)} images from library…" if many else "Remove from library…",
        commands.remove_selected,
    ).setEnabled(bool(records))
    return menu


def open_file(record: ImageRecord) -> bool:
    """Open the image in the system's image viewer."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(record.path))


def show_folder(record: ImageRecord) -> bool:
    """Show the image selected in the file manager (or open its folder, see ``gui.reveal``)."""
    return show_in_file_manager(record.path)


def copy_paths(records: list[ImageRecord]) -> str:
    """Copy the images' paths (one a line) to the clipboard; returns what was copied."""
    text = "\n".join(r.path for r in records)
    if text:
        QGuiApplication.clipboard().setText(text)
    return text


def set_split(context: AppContext, ids: list[int], split: Split) -> bool:
    """Put these images into a split by hand (training then keeps them there); undoable."""
    if not push_split(context, ids, split):
        return False
    context.status_message.emit(
        f"{len(ids):,} image{'s' if len(ids) != 1 else ''} now in the {split.value} split."
    )
    return True
