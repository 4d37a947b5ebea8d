"""A photo whose bytes change under its path keeps its label and says "changed — check the label":
in File → Check Library's message, the browser's filter and badges, and the viewer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cnndesk.domain import ImageQuery, ImageView
from cnndesk.gui.library_model import Role
from cnndesk.gui.viewer_pane import CHANGED_NOTICE
from cnndesk.library import Library
from tests.conftest import make_image
from tests.gui.browser_data import open_window


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    """A window on a library of 4 photos imported (through the GUI) from ``photos/``, all red."""
    for n in range(4):
        make_image(tmp_path / "photos" / f"img_{n}.png", colour=(40 * n, 90, 200))
    library = Library.open(tmp_path / "test.cnndesk")
    library.add_class("red")
    library.add_class("blue")
    window = open_window(qtbot, library)
    monkeypatch.setattr(window.importer, "ask_folders_as_classes", lambda _paths: False)
    with qtbot.waitSignal(window.importer.import_finished, timeout=20000) as imported:
        assert window.importer.start([str(tmp_path / "photos")])
    assert imported.args[0].added == 4
    browser = window.browser
    qtbot.waitUntil(lambda: browser.model.rowCount() == 4 and not browser.model.loading)
    browser.select_all()
    red = next(c for c in window.context.classes if c.name == "red")
    with qtbot.waitSignal(window.context.labels_changed):
        assert browser.label_with(red.id)
    yield window
    window.context.cancel_jobs()
    library.close()


def _check(qtbot, window) -> str:  # type: ignore[no-untyped-def]
    """File → Check Library: its status message, once the browser holds the fresh records."""
    messages: list[str] = []
    window.context.status_message.connect(messages.append)
    with qtbot.waitSignals(
        [window.context.status_message, window.browser.model.loaded],
        timeout=20000,
        check_params_cbs=[lambda message: message.startswith("Checked"), None],
    ):
        window.actions_by_id["file.check"].trigger()
    window.context.status_message.disconnect(messages.append)
    return next(m for m in messages if m.startswith("Checked"))


def _row(window, name: str) -> int:  # type: ignore[no-untyped-def]
    model = window.browser.model
    return next(r for r in range(model.rowCount()) if model.record(r).name == name)


def test_a_rewritten_photo_is_shown_as_changed_until_it_is_labeled_again(
    qtbot, window, tmp_path: Path
) -> None:
    browser, viewer = window.browser, window.panes["viewer"]
    red, blue = (next(c for c in window.context.classes if c.name == n) for n in ("red", "blue"))
    edited = tmp_path / "photos" / "img_2.png"
    make_image(edited, size=(80, 60), colour=(10, 250, 10))  # another picture, same path

    assert _check(qtbot, window) == "Checked 4 images: 1 changed"
    assert window.show_changed_button.isVisible()
    everything = [browser.model.index(r).data(Role.BADGE) for r in range(4)]
    assert everything == [None, None, "changed", None]

    with qtbot.waitSignal(browser.filter_applied, timeout=5000) as shown:
        window.show_changed_button.click()
    assert shown.args[0] == 1
    assert browser.filter_box.currentText() == "Changed — check the label"
    record = browser.model.record(0)
    assert Path(record.path) == edited and record.class_id == red.id  # the label was kept
    assert browser.model.index(0).data(Role.BADGE) == "changed"  # what the delegate draws
    assert "check the label" in browser.model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert browser.current_record() == record
    assert viewer.notice_label.text() == CHANGED_NOTICE
    assert not window.show_changed_button.isVisible()

    with qtbot.waitSignal(window.context.labels_changed):
        assert browser.label_with(blue.id)
    assert browser.model.index(0).data(Role.BADGE) is None
    assert viewer.shown is not None and viewer.shown.record.id == record.id
    assert viewer.notice_label.text() == ""
    stored = window.context.library.image(record.id)
    assert stored.class_id == blue.id and not stored.changed
    with qtbot.waitSignal(browser.filter_applied, timeout=5000) as shown:
        browser.set_query(ImageQuery(view=ImageView.CHANGED))
    assert shown.args[0] == 0


def test_missing_and_unreadable_photos_have_a_badge_and_say_why(
    qtbot, window, tmp_path: Path
) -> None:
    browser, viewer = window.browser, window.panes["viewer"]
    gone = tmp_path / "photos" / "img_1.png"
    shutil.move(gone, tmp_path / "img_1.png")
    broken = tmp_path / "photos" / "img_3.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is no longer a picture")

    assert _check(qtbot, window) == "Checked 4 images: 1 missing, 1 unreadable"
    assert not window.show_changed_button.isVisible()  # nothing changed: nothing to offer
    badges = [browser.model.index(r).data(Role.BADGE) for r in range(4)]
    assert badges == [None, "missing", None, "unreadable"]

    browser.set_current_row(_row(window, "img_1.png"))
    assert viewer.notice_label.text() == f"File missing: {gone}"

    with qtbot.waitSignal(viewer.decoder.failed, timeout=10000):
        browser.set_current_row(_row(window, "img_3.png"))
    notice = viewer.notice_label.text()
    assert notice.startswith("Cannot read this file: ") and len(notice) > len(
        "Cannot read this file: "
    )

    browser.set_current_row(_row(window, "img_0.png"))
    assert viewer.notice_label.text() == "" and viewer.notice_label.isHidden()
