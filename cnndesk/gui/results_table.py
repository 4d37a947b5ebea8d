"""A read-only table of results, as the batch sort summary, the run history and the Evaluate
pane's per-class metrics show them.

Rows are picked whole and never edited, there are no row numbers, and columns fit their contents
except the ones named to stretch. A widget helper, not a pane: any pane may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget


def results_table(
    columns: Sequence[str], *, stretch: Iterable[int] = (), stretch_last: bool = False
) -> QTableWidget:
    """An empty table with ``columns`` as headings: whole rows are selected, nothing is editable.

    Columns fit their contents; those in ``stretch`` share the spare width, and with
    ``stretch_last`` the last one takes it.
    """
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    for column in stretch:
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
    header.setStretchLastSection(stretch_last)
    return table
