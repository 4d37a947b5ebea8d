"""File → Check Library: files moved away show as missing, and readable again when they return."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.gui.browser_data import open_window, unlabeled_library


def test_check_library_marks_moved_files_missing_and_back(qtbot, tmp_path: Path) -> None:
    library = unlabeled_library(tmp_path, count=4)
    window = open_window(qtbot, library)
    action = next(a for a in window.actions() if a.objectName() == "file.check")
    assert action.text().replace("&", "") == "Check Library"
    shutil.move(tmp_path / "images", tmp_path / "away")

    with qtbot.waitSignal(window.context.status_message, timeout=10000) as shown:
        action.trigger()
    assert "4 missing" in shown.args[0]
    assert library.stats().missing == 4

    shutil.move(tmp_path / "away", tmp_path / "images")
    with qtbot.waitSignal(window.context.status_message, timeout=10000) as shown:
        action.trigger()
    assert "4 readable again" in shown.args[0]
    assert library.stats().images == 4
    library.close()
