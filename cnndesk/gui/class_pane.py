"""The class panel: the library's classes with colours, hotkeys and counts, and a balance bar.

Add, rename, delete, recolour, re-key and reorder classes (the order is what keys 1–9 follow).
Each edit is one committed library call on the GUI thread (a single small transaction), after
which ``AppContext.classes_changed`` tells everyone. A class hotkey that an action already uses is
refused with the action's name. Double-clicking a class shows its images in the browser.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import ClassInfo, CnndeskError, ImageQuery, ImageView, LibraryStats
from cnndesk.gui.actions import ACTIONS_BY_ID, hotkey_owner
from cnndesk.gui.context import AppContext

log = logging.getLogger(__name__)

FEW_IMAGES = 10
"""Fewer labeled images than this in a class makes a model guess; the panel says so."""
IMBALANCE = 4.0
"""A class with this many times the images of another is flagged as imbalanced."""


class ClassBalanceBar(QWidget):
    """One horizontal bar: a segment per class (its colour, its share), grey for unlabeled."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._segments: list[tuple[str, int, QColor]] = []

    def sizeHint(self) -> QSize:
        return QSize(200, 18)

    def set_counts(self, classes: list[ClassInfo], unlabeled: int) -> None:
        self._segments = [(c.name, c.count, QColor(c.colour)) for c in classes if c.count]
        if unlabeled:
            self._segments.append(("unlabeled", unlabeled, QColor(190, 190, 190)))
        total = sum(n for _, n, _ in self._segments)
        self.setToolTip(
            "\n".join(f"{name}: {n:,} ({n / total:.0%})" for name, n, _ in self._segments)
            if total
            else "No images yet"
        )
        self.update()

    def segments(self) -> list[tuple[str, int]]:
        return [(name, n) for name, n, _ in self._segments]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect().adjusted(0, 2, -1, -2)
        total = sum(n for _, n, _ in self._segments)
        painter.setPen(Qt.PenStyle.NoPen)
        if not total:
            painter.setBrush(QColor(128, 128, 128, 50))
            painter.drawRoundedRect(rect, 4, 4)
            return
        x = float(rect.x())
        for _name, n, colour in self._segments:
            width = rect.width() * n / total
            painter.setBrush(QBrush(colour))
            painter.drawRect(QRect(round(x), rect.y(), max(1, round(width)), rect.height()))
            x += width


def _swatch(colour: str) -> QPixmap:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(colour))
    return pixmap


class ClassPane(QWidget):
    """Lists classes (colour, name, key, count); buttons edit them.

    ``class_activated(int)``: the user double-clicked a class (its id).
    """

    class_activated = Signal(int)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ClassPane")
        self._context = context
        self.balance_bar = ClassBalanceBar(self)
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.setWordWrap(True)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("classTree")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Class", "Key", "Images"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, header.ResizeMode.Stretch)
        header.setSectionResizeMode(1, header.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, header.ResizeMode.ResizeToContents)
        self.add_button = QPushButton("Add…", self)
        self.rename_button = QPushButton("Rename…", self)
        self.colour_button = QPushButton("Colour…", self)
        self.hotkey_button = QPushButton("Key…", self)
        self.up_button = QPushButton("▲", self)
        self.down_button = QPushButton("▼", self)
        self.remove_button = QPushButton("Delete", self)
        for button, tip in (
            (self.add_button, "Add a class"),
            (self.rename_button, "Rename the chosen class"),
            (self.colour_button, "Change the chosen class's colour"),
            (self.hotkey_button, "Give the chosen class its own key (a letter, say)"),
            (self.up_button, "Move up: keys 1–9 follow this order"),
            (self.down_button, "Move down: keys 1–9 follow this order"),
            (self.remove_button, "Delete the chosen class (its images become unlabeled)"),
        ):
            button.setToolTip(tip)
            # Narrower than the style's 80-px button minimum when the dock is narrow (a
            # 1024-px screen), never narrower than the text.
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(button.text()) + 14)
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.up_button.setFixedWidth(32)
        self.down_button.setFixedWidth(32)
        row1 = QHBoxLayout()
        row1.addWidget(self.add_button)
        row1.addWidget(self.rename_button)
        row1.addWidget(self.remove_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.colour_button)
        row2.addWidget(self.hotkey_button)
        row2.addWidget(self.up_button)
        row2.addWidget(self.down_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.balance_bar)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.tree, 1)
        layout.addLayout(row1)
        layout.addLayout(row2)

        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.rename_button.clicked.connect(self._on_rename_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.colour_button.clicked.connect(self._on_colour_button_clicked)
        self.hotkey_button.clicked.connect(self._on_hotkey_button_clicked)
        self.up_button.clicked.connect(self._on_up_button_clicked)
        self.down_button.clicked.connect(self._on_down_button_clicked)
        self.tree.itemDoubleClicked.connect(self._on_tree_item_double_clicked)
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)
        context.classes_loaded.connect(self._on_context_classes_loaded)
        context.stats_loaded.connect(self._on_context_stats_loaded)
        self._show(context.classes)
        if context.stats is not None:
            self._on_context_stats_loaded(context.stats)

    # ------------------------------------------------------------------------------ editing

    def add_class(self, name: str, *, hotkey: str | None = None) -> bool:
        name = name.strip()
        if not name:
            return False
        if hotkey and not self._hotkey_free(hotkey):
            return False
        return self._edit(lambda: self._context.library.add_class(name, hotkey=hotkey or None))

    def rename_class(self, old: str, new: str) -> bool:
        new = new.strip()
        if not new or new == old:
            return False
        return self._edit(lambda: self._context.library.rename_class(old, new))

    def remove_class(self, name: str) -> bool:
        return self._edit(lambda: self._context.library.remove_class(name))

    def set_colour(self, name: str, colour: str) -> bool:
        return self._edit(lambda: self._context.library.update_class(name, colour=colour))

    def set_hotkey(self, name: str, hotkey: str | None) -> bool:
        if hotkey and not self._hotkey_free(hotkey, for_class=name):
            return False
        return self._edit(lambda: self._context.library.update_class(name, hotkey=hotkey or None))

    def move_class(self, name: str, position: int) -> bool:
        return self._edit(lambda: self._context.library.move_class(name, position))

    def _hotkey_free(self, hotkey: str, *, for_class: str | None = None) -> bool:
        shortcuts = dict(self._context.action_shortcuts)
        shortcuts.update(
            {
                f"label.hotkey.{c.id}": c.hotkey
                for c in self._context.classes
                if c.hotkey and c.name != for_class
            }
        )
        owner = hotkey_owner(hotkey, shortcuts)
        if owner is None:
            return True
        if owner.startswith("label.hotkey."):
            class_id = int(owner.rsplit(".", 1)[1])
            info = self._context.class_by_id(class_id)
            what = f"the class {info.name!r}" if info else "another class"
        else:
            spec = ACTIONS_BY_ID.get(owner)
            what = f"“{spec.text.replace('&', '')}”" if spec else owner
        self._warn(f"The key {hotkey} is already used by {what}. Choose another key.")
        return False

    def _edit(self, change) -> bool:  # type: ignore[no-untyped-def]
        try:
            change()
        except CnndeskError as exc:
            self._warn(str(exc))
            return False
        self._context.classes_changed.emit()
        return True

    def _warn(self, message: str) -> None:
        log.info("class edit refused: %s", message)
        self._context.status_message.emit(message)
        if self.isVisible():
            QMessageBox.warning(self, "Classes", message)

    # ---------------------------------------------------------------------------- dialogs

    def selected_class(self) -> ClassInfo | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        return self._context.class_by_id(item.data(0, Qt.ItemDataRole.UserRole))

    def ask_text(self, title: str, label: str, text: str = "") -> str | None:
        """Ask the user for a line of text (tests replace this)."""
        value, ok = QInputDialog.getText(self, title, label, text=text)
        return value if ok else None

    def confirm(self, title: str, question: str) -> bool:
        """Ask yes/no (tests replace this)."""
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def _on_add_button_clicked(self) -> None:
        name = self.ask_text("Add a class", "Name of the new class:")
        if name:
            self.add_class(name)

    @Slot()
    def _on_rename_button_clicked(self) -> None:
        info = self.selected_class()
        if info is None:
            return
        name = self.ask_text("Rename class", f"New name for {info.name!r}:", info.name)
        if name:
            self.rename_class(info.name, name)

    @Slot()
    def _on_remove_button_clicked(self) -> None:
        info = self.selected_class()
        if info is None:
            return
        question = (
            f"Delete the class {info.name!r}? Its {info.count:,} labeled images become unlabeled "
            "(the image files are not touched). This cannot be undone."
        )
        if self.confirm("Delete class", question):
            self.remove_class(info.name)

    @Slot()
    def _on_colour_button_clicked(self) -> None:
        info = self.selected_class()
        if info is None:
            return
        colour = QColorDialog.getColor(QColor(info.colour), self, f"Colour of {info.name}")
        if colour.isValid():
            self.set_colour(info.name, colour.name())

    @Slot()
    def _on_hotkey_button_clicked(self) -> None:
        info = self.selected_class()
        if info is None:
            return
        key = self.ask_text(
            "Class key",
            f"A key that labels with {info.name!r} (a letter, 0, a symbol or F1–F12; "
            "empty: none). Keys 1–9 always follow the class order.",
            info.hotkey or "",
        )
        if key is not None:
            self.set_hotkey(info.name, key.strip() or None)

    @Slot()
    def _on_up_button_clicked(self) -> None:
        info = self.selected_class()
        if info is not None and info.order > 0:
            self.move_class(info.name, self._position(info) - 1)

    @Slot()
    def _on_down_button_clicked(self) -> None:
        info = self.selected_class()
        if info is not None:
            self.move_class(info.name, self._position(info) + 1)

    def _position(self, info: ClassInfo) -> int:
        return next((i for i, c in enumerate(self._context.classes) if c.id == info.id), 0)

    @Slot(QTreeWidgetItem, int)
    def _on_tree_item_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        class_id = item.data(0, Qt.ItemDataRole.UserRole)
        self.class_activated.emit(class_id)
        self._context.show_images(ImageQuery(view=ImageView.CLASS, class_id=class_id))

    @Slot()
    def _on_tree_current_item_changed(self) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        chosen = self.tree.currentItem() is not None
        for button in (
            self.rename_button,
            self.remove_button,
            self.colour_button,
            self.hotkey_button,
            self.up_button,
            self.down_button,
        ):
            button.setEnabled(chosen)

    # ---------------------------------------------------------------------------- display

    @Slot(list)
    def _on_context_classes_loaded(self, classes: list) -> None:
        self._show(classes)

    @Slot(object)
    def _on_context_stats_loaded(self, stats: object) -> None:
        if isinstance(stats, LibraryStats):
            self.balance_bar.set_counts(self._context.classes, stats.unlabeled)
            self.summary_label.setText(self._summary(self._context.classes, stats))

    def _show(self, classes: list[ClassInfo]) -> None:
        chosen = self.selected_class()
        self.tree.clear()
        for position, info in enumerate(classes):
            keys = [str(position + 1)] if position < 9 else []
            if info.hotkey:
                keys.append(info.hotkey)
            item = QTreeWidgetItem([info.name, " / ".join(keys), f"{info.count:,}"])
            item.setIcon(0, _swatch(info.colour))
            item.setData(0, Qt.ItemDataRole.UserRole, info.id)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if info.count < FEW_IMAGES:
                item.setToolTip(2, f"Label at least {FEW_IMAGES} images of {info.name}.")
            self.tree.addTopLevelItem(item)
            if chosen is not None and chosen.id == info.id:
                self.tree.setCurrentItem(item)
        self._update_buttons()

    @staticmethod
    def _summary(classes: list[ClassInfo], stats: LibraryStats) -> str:
        if not classes:
            return "No classes yet. Press <b>Add…</b>, or import folders named after classes."
        labeled = sum(c.count for c in classes)
        text = f"{labeled:,} labeled · {stats.unlabeled:,} unlabeled"
        few = [c.name for c in classes if c.count < FEW_IMAGES]
        counts = [c.count for c in classes if c.count]
        if few:
            text += f"<br>Needs more images: {', '.join(few[:4])}"
        elif counts and max(counts) >= IMBALANCE * min(counts):
            text += "<br>Classes are imbalanced: label more of the small ones."
        return text
