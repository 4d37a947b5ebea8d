"""Edit → Keyboard Shortcuts…: change the key of any action, refusing keys that would collide.

The table lists every action of ``actions.py`` (and the panes) with its current key in a
``QKeySequenceEdit``. Saving checks the whole set, class hotkeys included, with
:func:`~cnndesk.gui.actions.shortcut_conflicts`; the main window then applies the keys at once and
stores the ones that differ from the defaults in the settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnndesk.gui.actions import ActionSpec, normalized, shortcut_conflicts


def check_shortcuts(
    wanted: Mapping[str, str], reserved: Mapping[str, str], names: Mapping[str, str]
) -> list[str]:
    """Why ``wanted`` (action id → key) cannot be used with ``reserved`` keys; empty when it can."""
    problems = []
    for sequence, ids in shortcut_conflicts({**reserved, **wanted}).items():
        who = " and ".join(names.get(i, i) for i in ids)
        problems.append(f"{sequence} is used by {who}.")
    return problems


class ShortcutsDialog(QDialog):
    """Lists actions with editable keys; :meth:`shortcuts` gives the chosen ones after ``accept``."""

    def __init__(
        self,
        specs: Sequence[ActionSpec],
        current: Mapping[str, str],
        *,
        reserved: Mapping[str, str],
        names: Mapping[str, str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self._specs = list(specs)
        self._reserved = dict(reserved)
        self._names = dict(names)
        self.table = QTableWidget(len(self._specs), 3, self)
        self.table.setHorizontalHeaderLabels(["Command", "Key", "Default"])
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(1, 180)
        self._editors: dict[str, QKeySequenceEdit] = {}
        for row, spec in enumerate(self._specs):
            name = QTableWidgetItem(spec.text.replace("&", ""))
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            name.setToolTip(spec.id)
            default = QTableWidgetItem(spec.shortcut)
            default.setFlags(Qt.ItemFlag.ItemIsEnabled)
            editor = QKeySequenceEdit(QKeySequence(current.get(spec.id, "")), self.table)
            editor.setClearButtonEnabled(True)
            editor.setMaximumSequenceLength(1)
            self.table.setItem(row, 0, name)
            self.table.setCellWidget(row, 1, editor)
            self.table.setItem(row, 2, default)
            self._editors[spec.id] = editor
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            self._on_restore_defaults_clicked
        )
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("Click a key and press the new one. Class keys are set in the Classes panel.")
        )
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(620, 560)

    def shortcuts(self) -> dict[str, str]:
        """Action id → the key chosen in the table (portable text; empty for none)."""
        return {
            action_id: normalized(editor.keySequence().toString())
            if not editor.keySequence().isEmpty()
            else ""
            for action_id, editor in self._editors.items()
        }

    def set_shortcut(self, action_id: str, sequence: str) -> None:
        self._editors[action_id].setKeySequence(QKeySequence(sequence))

    def problems(self) -> list[str]:
        return check_shortcuts(self.shortcuts(), self._reserved, self._names)

    def accept(self) -> None:
        problems = self.problems()
        if problems:
            QMessageBox.warning(self, "Keyboard shortcuts", "\n".join(problems))
            return
        super().accept()

    @Slot()
    def _on_restore_defaults_clicked(self) -> None:
        for spec in self._specs:
            self.set_shortcut(spec.id, spec.shortcut)
