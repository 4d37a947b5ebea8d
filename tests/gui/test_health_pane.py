"""The Data health pane: findings listed, a click opens the browser, A/K act and persist."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cnndesk.domain import Split
from cnndesk.gui.health_pane import HealthPane
from cnndesk.library import Library
from tests.gui.pane_data import make_context
from tests.test_audit import audited_library  # noqa: F401  (a fixture)


def _pane(qtbot, library_path: Path) -> HealthPane:  # type: ignore[no-untyped-def]
    context = make_context(Library.open(library_path))
    pane = HealthPane(context)
    qtbot.addWidget(pane)
    pane.show()
    with qtbot.waitSignal(pane.audit_finished, timeout=600_000):
        pane.run_button.click()
    return pane


def _row_of(view, name: str) -> int:  # type: ignore[no-untyped-def]
    for row in range(view.count()):
        finding = view.item(row).data(Qt.ItemDataRole.UserRole)
        files = getattr(finding, "files", None) or (finding.file,)
        if any(Path(f).name == name for f in files):
            return row
    raise AssertionError(f"{name} not listed: {[view.item(r).text() for r in range(view.count())]}")


@pytest.fixture(name="pane")
def audited_pane(qtbot, audited_library):  # type: ignore[no-untyped-def]  # noqa: F811
    """A Data health pane that has audited the planted library (``tests.test_audit``)."""
    return _pane(qtbot, audited_library[0])


def test_findings_are_listed_and_a_click_shows_them_in_the_browser(qtbot, pane: HealthPane) -> None:  # type: ignore[no-untyped-def]
    row = _row_of(pane.labels_list, "oops.png")
    assert "red → blue" in pane.labels_list.item(row).text()
    dup_row = _row_of(pane.duplicates_list, "copy-of-0.jpg")
    assert pane.duplicates_list.item(dup_row).text().startswith("LEAK")
    _row_of(pane.outliers_list, "night.png")
    assert pane.tabs.tabText(0).startswith("Labels (")

    finding = pane.labels_list.item(row).data(Qt.ItemDataRole.UserRole)
    with qtbot.waitSignal(pane.context.show_images_requested) as shown:
        qtbot.mouseClick(
            pane.labels_list.viewport(),
            Qt.MouseButton.LeftButton,
            pos=pane.labels_list.visualItemRect(pane.labels_list.item(row)).center(),
        )
    assert shown.args[0].image_ids == (finding.image_id,)

    pane.tabs.setCurrentIndex(1)
    pane.duplicates_list.setCurrentRow(dup_row)
    group = pane.duplicates_list.item(dup_row).data(Qt.ItemDataRole.UserRole)
    assert pane.one_split_button.isEnabled()
    pane.one_split_button.click()
    splits = {r.split for r in pane.context.library.images_by_id(list(group.image_ids))}
    assert splits == {Split.TRAIN}  # one train, one val: a tie goes to train


def test_keys_accept_the_suggestion_or_keep_the_label_and_both_persist(
    qtbot, pane: HealthPane
) -> None:  # type: ignore[no-untyped-def]
    library_path = pane.context.library.path
    library = pane.context.library
    assert pane.labels_list.count() >= 1
    first = pane.labels_list.item(0).data(Qt.ItemDataRole.UserRole)
    pane.labels_list.setFocus()
    pane.labels_list.setCurrentRow(0)
    with qtbot.waitSignal(pane.finding_resolved) as resolved:
        qtbot.keyClick(pane.labels_list, Qt.Key.Key_A)
    assert resolved.args == ["accepted"]
    suggested = library.class_by_name(first.suggested)
    assert library.image(first.image_id).class_id == suggested.id
    pane.context.undo_stack.undo()  # the accept is an ordinary, undoable label edit
    assert library.class_by_name(first.label).id == library.image(first.image_id).class_id

    with qtbot.waitSignal(pane.audit_finished, timeout=600_000):
        pane.run_audit()
    pane.labels_list.setCurrentRow(_row_of(pane.labels_list, Path(first.file).name))
    with qtbot.waitSignal(pane.finding_resolved) as resolved:
        qtbot.keyClick(pane.labels_list, Qt.Key.Key_K)
    assert resolved.args == ["kept"]
    with Library.open(library_path) as reopened:  # stored in the library file
        assert first.image_id in reopened.kept_labels()
    with qtbot.waitSignal(pane.audit_finished, timeout=600_000):
        pane.run_audit()
    listed = [
        pane.labels_list.item(r).data(Qt.ItemDataRole.UserRole).image_id
        for r in range(pane.labels_list.count())
    ]
    assert first.image_id not in listed
