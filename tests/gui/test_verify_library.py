"""File → Verify Library Contents: the full re-hash on the worker finds a photo rewritten with
its size and mtime kept, which File → Check Library trusts, and says what it rests on."""

from __future__ import annotations

from pathlib import Path

from cnndesk.library import Library, import_paths
from tests.gui.browser_data import open_window
from tests.library.test_verify_contents import bmp_folder, rewrite_keeping_size_and_mtime


def test_verify_action_reports_content_the_check_missed(qtbot, tmp_path: Path) -> None:
    photos = bmp_folder(tmp_path / "images", 5)
    library = Library.open(tmp_path / "test.cnndesk")
    for _event in import_paths(library, [tmp_path / "images"]):
        pass
    window = open_window(qtbot, library)
    rewrite_keeping_size_and_mtime(photos[3], colour=(0, 255, 0))

    with qtbot.waitSignal(window.context.status_message, timeout=10000) as shown:
        window.actions_by_id["file.check"].trigger()
    assert shown.args[0] == "Checked 5 images: all readable, none changed"

    verify = window.actions_by_id["file.verify"]
    assert verify.text().replace("&", "") == "Verify Library Contents"
    assert "re-hash every file" in verify.statusTip()
    with qtbot.waitSignal(window.context.status_message, timeout=10000) as shown:
        verify.trigger()
    assert shown.args[0] == "Verified 5 files byte by byte: 1 changed"
    assert library.stats().changed == 1
    assert window.status.show_changed_button.isVisible()
    library.close()
