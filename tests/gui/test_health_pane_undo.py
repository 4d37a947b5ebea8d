"""Data health findings follow Edit → Undo/Redo, and belong to the library they were found in."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cnndesk.domain import Split
from cnndesk.gui.health_pane import HealthPane
from cnndesk.library import Library
from tests.gui.test_health_pane import _row_of, audited_pane  # noqa: F401  (a fixture)
from tests.test_audit import audited_library  # noqa: F401  (a fixture)


def _names(view) -> list[str]:  # type: ignore[no-untyped-def]
    names = []
    for row in range(view.count()):
        finding = view.item(row).data(Qt.ItemDataRole.UserRole)
        names.append(Path((getattr(finding, "files", None) or (finding.file,))[0]).name)
    return names


def test_undoing_an_accepted_suggestion_or_a_split_brings_the_finding_back(
    pane: HealthPane,
) -> None:
    stack = pane.context.undo_stack
    before = _names(pane.labels_list)
    row = _row_of(pane.labels_list, "oops.png")
    pane.labels_list.setCurrentRow(row)
    assert pane.accept_current()
    assert "oops.png" not in _names(pane.labels_list)

    stack.undo()  # the label is back, and so is the finding, where it was, and current
    assert _names(pane.labels_list) == before
    assert pane.labels_list.currentRow() == row
    stack.redo()
    assert "oops.png" not in _names(pane.labels_list)

    pane.tabs.setCurrentIndex(1)
    groups = _names(pane.duplicates_list)
    pane.duplicates_list.setCurrentRow(_row_of(pane.duplicates_list, "copy-of-0.jpg"))
    assert pane.put_current_group_in_one_split() is Split.TRAIN
    assert len(_names(pane.duplicates_list)) == len(groups) - 1
    stack.undo()
    assert _names(pane.duplicates_list) == groups
    assert pane.duplicates_list.currentItem().text().startswith("LEAK")  # leaking again
    assert pane.one_split_button.isEnabled()
    stack.undo()  # and the relabel before it
    assert _names(pane.labels_list) == before


def test_opening_another_library_clears_the_findings_of_the_old_one(
    pane: HealthPane, tmp_path: Path
) -> None:
    pane.labels_list.setCurrentRow(0)
    assert pane.labels_list.count() and pane.duplicates_list.count()
    assert pane.accept_current()  # an undo step the switch clears: nothing comes back

    pane.context.set_library(Library.open(tmp_path / "other.cnndesk"))
    for view in (pane.labels_list, pane.duplicates_list, pane.outliers_list, pane.balance_list):
        assert view.count() == 0  # nothing that would point at the other library's images
    assert [pane.tabs.tabText(i) for i in range(4)] == [
        "Labels",
        "Duplicates",
        "Outliers",
        "Balance",
    ]
    assert pane.summary.text().startswith("Run the audit")
    assert not pane.one_split_button.isEnabled()


def test_a_finding_undone_and_then_overwritten_by_a_new_edit_stays_listed(
    pane: HealthPane,
) -> None:
    from cnndesk.gui.undo import push_labels

    stack, library = pane.context.undo_stack, pane.context.library
    pane.labels_list.setCurrentRow(_row_of(pane.labels_list, "oops.png"))
    assert pane.accept_current()
    stack.undo()  # the finding is back...
    other = next(r for r in library.images() if Path(r.path).name != "oops.png")
    assert push_labels(pane.context, {other.id: None}, text="Clear one label")
    # ...and a new edit at the same place on the stack does not take it away again: its
    # relabel can no longer be redone.
    assert "oops.png" in _names(pane.labels_list)
    assert not stack.canRedo()


def test_a_refused_accept_leaves_the_finding_where_it_is(
    pane: HealthPane, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnndesk.domain import LibraryError

    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise LibraryError("the library file is read-only")

    before = _names(pane.labels_list)
    monkeypatch.setattr(pane.context.library, "set_labels", refuse)
    pane.labels_list.setCurrentRow(0)
    assert pane.accept_current() is False
    assert _names(pane.labels_list) == before
    assert pane.context.undo_stack.count() == 0
