"""The browser's bar: which images to show (a filter), a file-name search, how many are shown,
and room at its end for the window's zoom and list-mode buttons.

:class:`FilterBar` emits ``query_changed(ImageQuery)`` when the user picks a filter, or when the
search text settles (:data:`SEARCH_DELAY_MS` after the last key, at once on Return or Escape);
the browser then shows that query's images. Escape in the search field clears it, or, when it is
empty already, emits ``search_done`` (as Return does: the browser gives the grid the focus).
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from cnndesk.defaults import LOW_CONFIDENCE
from cnndesk.domain import ClassInfo, ImageQuery, ImageView

SEARCH_DELAY_MS = 250
SEARCH_PLACEHOLDER = "Search names"
SEARCH_TOOLTIP = (
    "Search file names (Ctrl+F): shows the images whose file name contains the text.\n"
    "Return goes to the images; Escape clears the search."
)


def filter_choices(classes: list[ClassInfo]) -> list[tuple[str, ImageQuery]]:
    """The browser's filters: (menu text, query), in menu order."""
    choices: list[tuple[str, ImageQuery]] = [
        ("All images", ImageQuery()),
        ("Unlabeled", ImageQuery(view=ImageView.UNLABELED)),
    ]
    choices += [
        (f"Labeled {c.name}", ImageQuery(view=ImageView.CLASS, class_id=c.id)) for c in classes
    ]
    choices += [
        (f"Predicted {c.name}", ImageQuery(view=ImageView.PREDICTED, class_id=c.id))
        for c in classes
    ]
    choices += [
        ("Misclassified (label ≠ model)", ImageQuery(view=ImageView.MISCLASSIFIED)),
        (
            f"Low confidence (< {LOW_CONFIDENCE:.0%})",
            ImageQuery(
                view=ImageView.LOW_CONFIDENCE,
                confidence_below=LOW_CONFIDENCE,
                order="least_confident",
            ),
        ),
        ("Changed — check the label", ImageQuery(view=ImageView.CHANGED)),
    ]
    return choices


class FilterBar(QWidget):
    """ "Show: [filter] [search] N shown of M" and the tool buttons.

    ``query_changed(object)``: the user asked for another :class:`ImageQuery`.
    ``search_done()``: Return in the search field, or Escape in the empty one.
    """

    query_changed = Signal(object)
    search_done = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.filter_box = QComboBox(self)
        self.filter_box.setObjectName("filterBox")
        # As wide as about 14 characters, whatever the longest filter is (long ones are elided
        # in the box; the open list shows them whole): the search field keeps its room.
        self.filter_box.setMinimumContentsLength(11)
        self.filter_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.search_box = QLineEdit(self)
        self.search_box.setObjectName("searchBox")
        # Short enough to fit the box in a 1024 px window; the tooltip says it whole.
        self.search_box.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_box.setToolTip(SEARCH_TOOLTIP)
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setMinimumWidth(
            self.search_box.fontMetrics().horizontalAdvance(SEARCH_PLACEHOLDER) + 40
        )
        self.search_box.installEventFilter(self)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("countLabel")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(QLabel("Show:", self))
        self._layout.addWidget(self.filter_box)
        self._layout.addWidget(self.search_box, 1)
        self._layout.addWidget(self.count_label)
        self._choices: list[tuple[str, ImageQuery]] = []
        self._classes: list[ClassInfo] = []
        self._extra_query: ImageQuery | None = None
        self.filter_box.activated.connect(self._on_filter_box_activated)
        self.search_box.textChanged.connect(self._on_search_box_text_changed)
        self.search_box.returnPressed.connect(self._on_search_box_return_pressed)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)

    def add_tool_action(self, action: QAction) -> QToolButton:
        """Show one of the window's actions as a button at the end of the bar."""
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setAutoRaise(True)
        self._layout.addWidget(button)
        return button

    def query(self) -> ImageQuery:
        """The chosen filter with the search text."""
        index = max(self.filter_box.currentIndex(), 0)
        base = self._choices[index][1] if self._choices else ImageQuery()
        return dataclasses.replace(base, search=self.search_box.text().strip())

    def show_query(self, query: ImageQuery) -> None:
        """Choose the filter of ``query`` (a new entry, titled by it, when none matches; always
        for a list of chosen images) and put its search text in the field, without emitting."""
        index = next((i for i, (_, q) in enumerate(self._choices) if q == query), -1)
        if index < 0:
            base = ImageQuery(
                view=query.view,
                class_id=query.class_id,
                confidence_below=query.confidence_below,
                order=query.order,
            )
            index = next((i for i, (_, q) in enumerate(self._choices) if q == base), -1)
        if index < 0 or query.image_ids is not None:
            self._extra_query = query
            self.rebuild_filters(self._classes)
            index = len(self._choices) - 1
        self.filter_box.setCurrentIndex(index)
        self.search_box.blockSignals(True)
        self.search_box.setText(query.search)
        self.search_box.blockSignals(False)

    def rebuild_filters(self, classes: list[ClassInfo]) -> None:
        """The filters for these classes; the chosen one stays chosen where it still exists."""
        self._classes = list(classes)
        current = self._choices[self.filter_box.currentIndex()][1] if self._choices else None
        self._choices = filter_choices(classes)
        if self._extra_query is not None:
            title = self._extra_query.title or "Chosen images"
            self._choices.append((title, self._extra_query))
        self.filter_box.blockSignals(True)
        self.filter_box.clear()
        for text, _ in self._choices:
            self.filter_box.addItem(text)
        index = next((i for i, (_, q) in enumerate(self._choices) if q == current), 0)
        self.filter_box.setCurrentIndex(index)
        self.filter_box.blockSignals(False)

    def reset(self) -> None:
        """Another library: no search, no count, the filters of no classes (nothing emitted)."""
        self._extra_query = None
        self._search_timer.stop()
        self.search_box.blockSignals(True)
        self.search_box.clear()
        self.search_box.blockSignals(False)
        self.count_label.clear()  # the old library's "… shown of N" must not linger

    def set_count(self, shown: int, total: int | None) -> None:
        """ "12 shown of 400" (without "of" while the library's size is not known)."""
        self.count_label.setText(f"{shown:,} shown" + (f" of {total:,}" if total else ""))

    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.search_box
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):
            if self.search_box.text():
                self.search_box.clear()
                self._search_timer.stop()
                self._emit_query()
            else:
                self.search_done.emit()
            return True
        return super().eventFilter(watched, event)

    def _emit_query(self) -> None:
        self.query_changed.emit(self.query())

    @Slot(int)
    def _on_filter_box_activated(self, _index: int) -> None:
        self._emit_query()

    @Slot(str)
    def _on_search_box_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    @Slot()
    def _on_search_box_return_pressed(self) -> None:
        self._search_timer.stop()
        self._emit_query()
        self.search_done.emit()

    @Slot()
    def _on_search_timer_timeout(self) -> None:
        self._emit_query()
